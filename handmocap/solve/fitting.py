"""Hand parameters by fitting, per frame, batched over frames (Boukhayma et al. 2019 eq. 10,
the "2D fit" baseline, extended with HandDGP's global positioning).

For a track of T frames we optimise, all frames at once (chunks of `batch_size`):

    global orientation R_t = R0_t exp([d_t]x)  (R0_t: Kabsch of the template palm onto the
                                                detector's metric palm; d_t (T, 3) axis-angle)
    hand_pose theta_t (T, 45)                   15 local axis-angles, MANO order
    betas beta (S,)                             one shape for the whole track

Every iteration maps the model's 21 keypoints to the detector's landmark definition
(`detector_offsets`: MediaPipe's wrist and MCPs are not the model's joints), places them in
the camera with the closed-form, differentiable DGP translation (HandDGP eq. 7; with unknown
intrinsics a closed-form weak-perspective (s, t), Boukhayma eq. 3-4) and minimises

    L = w2d  * sum_i c_i huber(|proj_i - x_i| / size_px) / sum_i c_i        (2D, trusted)
      + w3d  * sum_i a_i |P (m_i - m_bar) - P (k_i - k_bar)|^2 / s0^2        (detector's metric 3D)
      + wlim * limit_penalty(theta) + wpose |theta - theta_mean|^2 + wshape |beta|^2
      + wtemp * |m_t+1 - m_t|^2 / s0^2                                        (neighbouring frames)

with c_i the detector's confidences, size_px the hand's 2D extent, s0 = 0.1 m, P = diag(1,
1, z_weight) (MediaPipe's depth is its weak axis) and a_i how well the detector's 3D agrees
with its own 2D (a weak-perspective fit of the 3D x, y onto the 2D; design.md: trust the 2D,
weight the 3D by agreement). Scale: without `hand_length_m` the hand's size comes from the
detector's metric 3D and the shape prior (2D alone cannot separate size from depth); with it,
beta_0 is solved in closed form at every step so that the flat hand measures exactly that
from the wrist joint to the middle fingertip, which fixes size and therefore depth, and the
3D term compares shapes only (the detector's 3D is rescaled per frame to the model's size).

The output keypoints (`keypoints_cam`) are the model's own joints, not the detector's
landmarks; `transl` follows `HandModel`: camera-space mesh = HandModel(global_orient,
hand_pose, betas) + transl.

Left hands use the left model directly (`HandModel(side="left")`); the joint-limit prior
(`hand.limits`) mirrors left poses onto its right-hand joint frames itself.

Unknown intrinsics (`K=None`): the assumed intrinsics of
`camera.weak_perspective.assumed_intrinsics` (60 degrees across the larger image side; its
module docstring tabulates the resulting depth error: depth scales with f_assumed / f_true).
By default the loop projects with that assumed pinhole (`unknown_camera="assumed_perspective"`);
`"weak_perspective"` uses the focal-free weak-perspective camera in the loop instead
(Boukhayma eq. 3-4). Measured on synthetic tracks (true f = 600 px at 640x480, assumed 554):
weak perspective 17 mm root-relative / 6.2 mm PA-MPJPE / 7 px reprojection, assumed
perspective 7 mm / 3.9 mm / 1.6 px, with the same depth error from the focal. Either way the
final translation is the DGP solution under the assumed intrinsics, so the camera-space hand
reprojects onto the 2D keypoints with the assumed camera.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from ..camera.pinhole import project
from ..errors import InputError, ShapeError
from ..geometry.lbs import forward_kinematics
from ..geometry.procrustes import similarity_procrustes
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from ..hand.joints import FINGER_NAMES, WRIST
from .detector_offsets import DEFAULT_DEFINITION, detector_matrix
from .dgp import solve_translation

HAND_SIZE_M = 0.1  # s0: metric normaliser of the 3D and temporal terms (about a palm + finger)
PALM = (0, 5, 9, 13, 17)  # wrist and the four finger MCPs: the rigid part used for initialisation


@dataclass(frozen=True)
class FitOptions:
    """Weights and schedule of the fit (defaults tuned on synthetic tracks, tests/solve).

    iterations: Adam steps per chunk.  lr: Adam step size (radians for rotations).
    w_2d / w_3d / w_pose / w_limits / w_shape / w_temporal: loss weights (module docstring).
    huber_2d: Huber threshold of the 2D term, as a fraction of the hand's 2D size.
    z_weight: weight of the detector's depth axis in the 3D term (x, y have 1).
    agreement_sigma: 2D/3D disagreement (fraction of the 2D size) at which the 3D weight
        of a keypoint falls to exp(-1/2).
    definition: the detector's landmark definition (`detector_offsets.definition_names()`).
    unknown_camera: projection used inside the loop when K is unknown: "weak_perspective"
        (focal-free) or "assumed_perspective" (pinhole with the assumed focal).
    """

    iterations: int = 100
    lr: float = 0.05
    w_2d: float = 1.0
    w_3d: float = 1.0
    w_pose: float = 1e-3
    w_limits: float = 1.0
    w_shape: float = 1e-3
    w_temporal: float = 0.05
    huber_2d: float = 0.02
    z_weight: float = 0.5
    agreement_sigma: float = 0.1
    definition: str = DEFAULT_DEFINITION
    unknown_camera: str = "assumed_perspective"


@dataclass
class FitResult:
    """Fitted parameters of one track (numpy float32).

    Attributes:
        global_orient: (T, 3) axis-angle of the wrist, camera frame (OpenCV).
        hand_pose: (T, 45) local axis-angles, MANO joint order (the model's hand_pose).
        betas: (S,) shape, shared by the track.
        transl: (T, 3) metres; camera-space mesh = HandModel(global_orient, hand_pose, betas) + transl.
        keypoints_cam: (T, 21, 3) metres, the model's own keypoints in camera space.
        confidence: (T, 21) in [0, 1]: detector confidence times agreement of the fit with it.
        reprojection_px: (T,) mean pixel distance between the fitted hand's detector-definition
            landmarks (projected with K, or the assumed K) and the detected 2D keypoints.
        camera: "perspective" (K given) or "weak_perspective" (assumed focal).
    """

    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    keypoints_cam: np.ndarray
    confidence: np.ndarray
    reprojection_px: np.ndarray
    camera: str = "perspective"


def apply_rows(M: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """M (N, K) applied to every item of x (B, K, C) -> (B, N, C), i.e. M @ x[b].

    Written as one contiguous 2D matmul: torch's broadcast path for (N, K) @ (B, K, C) is
    about 1000x slower on CPU for these small sizes (measured: 7.7 ms vs 6 us at B=64).
    """
    B, K, C = x.shape
    return (x.transpose(1, 2).reshape(B * C, K) @ M.T).reshape(B, C, -1).transpose(1, 2)


class KeypointLayer:
    """The 21 keypoints of a `HandModel` without skinning the whole mesh (fast for fitting).

    Joints come from the regressed rest joints (linear in betas) and forward kinematics; only
    the five fingertip vertices are skinned. Agrees with `HandModel(...).keypoints` exactly
    (tested), at a fraction of the cost.
    """

    def __init__(self, hand_model, dtype=torch.float32, device=None):
        m = hand_model
        f64 = dict(dtype=torch.float64, device=device)
        v_template = m.v_template.to(**f64)
        shapedirs = m.shapedirs.to(**f64)
        J_reg = m.J_regressor.to(**f64)
        tips = m.fingertip_ids.to(device)
        cast = dict(dtype=dtype, device=device)
        self.J_template = (J_reg @ v_template).to(**cast)  # (16, 3)
        self.J_dirs = torch.einsum("jv,vcs->jcs", J_reg, shapedirs).to(**cast)  # (16, 3, S)
        self.tip_template = v_template[tips].to(**cast)  # (5, 3)
        self.tip_dirs = shapedirs[tips].to(**cast)  # (5, 3, S)
        self.tip_weights = m.lbs_weights[tips].to(**cast)  # (5, 16)
        self.tip_posedirs = None
        if m.posedirs is not None:
            V = v_template.shape[0]
            self.tip_posedirs = m.posedirs.reshape(-1, V, 3)[:, tips].reshape(-1, 15).to(**cast)
        self.hands_mean = m.hands_mean.to(**cast)
        self.parents = tuple(m.parents)
        self.kp_index = m._kp_index.to(device)
        self.num_betas = m.num_betas
        self.dtype, self.device = dtype, device

    def rest(self, betas: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """betas (B, S) or (S,) -> rest joints (B or 1, 16, 3) and fingertips (B or 1, 5, 3), metres."""
        b = betas.reshape(-1, betas.shape[-1])
        joints = self.J_template + (b @ self.J_dirs.reshape(-1, self.num_betas).T).reshape(-1, 16, 3)
        tips = self.tip_template + (b @ self.tip_dirs.reshape(-1, self.num_betas).T).reshape(-1, 5, 3)
        return joints, tips

    def __call__(self, root_matrix: torch.Tensor, hand_pose: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """root_matrix (B, 3, 3), hand_pose (B, 45), betas (B, S) or (S,) shared -> keypoints
        (B, 21, 3) metres, model frame (as `HandModel` without transl)."""
        B = hand_pose.shape[0]
        local = axis_angle_to_matrix((hand_pose + self.hands_mean).reshape(B, 15, 3))
        rot = torch.cat([root_matrix[:, None], local], 1)
        joints_rest, tips_rest = (x.expand(B, -1, -1) for x in self.rest(betas))
        if self.tip_posedirs is not None:
            eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
            tips_rest = tips_rest + ((rot[:, 1:] - eye).flatten(1) @ self.tip_posedirs).reshape(B, 5, 3)
        joints, T = forward_kinematics(rot, joints_rest, self.parents)
        A = apply_rows(self.tip_weights, T.reshape(B, 16, 12)).reshape(B, 5, 3, 4)
        tips = (A[..., :3] @ tips_rest[..., None])[..., 0] + A[..., 3]
        return torch.cat([joints, tips], 1)[:, self.kp_index]

    def hand_length(self, betas: torch.Tensor) -> torch.Tensor:
        """betas (B, S) -> (B,) metres, wrist joint to middle fingertip of the flat hand."""
        joints, tips = self.rest(betas)
        return (tips[:, FINGER_NAMES.index("middle")] - joints[:, WRIST]).norm(dim=-1)

    def beta0_for_length(self, betas_rest: torch.Tensor, length_m: float) -> torch.Tensor:
        """beta_0 (scalar) that gives the flat hand `length_m` with betas_rest (S-1,) as the others.

        The wrist-to-middle-tip vector is affine in betas, d = a + beta_0 c, so |d| = L is a
        quadratic in beta_0; its larger root is the one that scales the hand (differentiable).
        """
        mid = FINGER_NAMES.index("middle")
        c = self.tip_dirs[mid, :, 0] - self.J_dirs[WRIST, :, 0]
        a = (self.tip_template[mid] - self.J_template[WRIST]
             + (self.tip_dirs[mid, :, 1:] - self.J_dirs[WRIST, :, 1:]) @ betas_rest)
        cc, ac, aa = c @ c, a @ c, a @ a
        disc = (ac * ac - cc * (aa - length_m ** 2)).clamp_min(0)
        return (-ac + disc.sqrt()) / cc


def as_track_tensor(name, x, dtype, device) -> torch.Tensor:
    """A numeric array (numpy or torch) as a tensor; InputError naming `name` otherwise."""
    try:
        return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x).to(dtype=dtype, device=device)
    except (TypeError, ValueError) as exc:
        raise InputError(None, f"{name}: not a numeric array ({exc})") from None


def check_track_inputs(keypoints_px, keypoints_rel, scores, K, side, hand_model, hand_length_m,
                       caller: str = "fit_track"):
    """Validate the per-track inputs every estimator takes; returns scores as (T, 21)."""
    if keypoints_px.dim() != 3 or keypoints_px.shape[1:] != (21, 2):
        raise ShapeError("keypoints_px", "(T, 21, 2)", tuple(keypoints_px.shape))
    T = keypoints_px.shape[0]
    if T == 0:
        raise InputError(None, f"{caller}: the track has no frames")
    if tuple(keypoints_rel.shape) != (T, 21, 3):
        raise ShapeError("keypoints_rel", f"({T}, 21, 3)", tuple(keypoints_rel.shape))
    if scores.dim() == 1:
        scores = scores[:, None].expand(T, 21)
    if tuple(scores.shape) != (T, 21):
        raise ShapeError("scores", f"({T}, 21) or ({T},)", tuple(scores.shape))
    if K is not None and tuple(K.shape) != (3, 3):
        raise ShapeError("K", "(3, 3)", tuple(K.shape))
    if side not in ("left", "right"):
        raise InputError(None, f"side must be 'left' or 'right', got {side!r}")
    if getattr(hand_model, "side", side) != side:
        raise InputError(None, f"{caller}: a {hand_model.side} hand model was given for a {side} track")
    if hand_length_m is not None and not (0.05 <= float(hand_length_m) <= 0.4):
        raise InputError(None, f"hand length must be between 5 and 40 cm (wrist to middle fingertip), "
                               f"got {100 * float(hand_length_m):.1f} cm")
    return scores


def _clean(keypoints_px, keypoints_rel, scores):
    """Zero weight (and zero values) for non-finite keypoints; weights clamped to [0, 1]."""
    finite = torch.isfinite(keypoints_px).all(-1) & torch.isfinite(keypoints_rel).all(-1) & torch.isfinite(scores)
    w = torch.where(finite, scores.clamp(0, 1), torch.zeros_like(scores))
    px = torch.where(finite[..., None], keypoints_px, torch.zeros_like(keypoints_px))
    rel = torch.where(finite[..., None], keypoints_rel, torch.zeros_like(keypoints_rel))
    return px, rel, w


def _weighted_mean(x, w):
    """x (B, N, C), w (B, N) -> (B, C)."""
    return (w[..., None] * x).sum(1) / w.sum(1).clamp_min(1e-9)[:, None]


def hand_size_px(keypoints_px: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """(B, 21, 2), (B, 21) -> (B,) pixels: diagonal of the weighted keypoints' bounding box."""
    big = torch.finfo(keypoints_px.dtype).max
    use = (weights > 0)[..., None]
    lo = torch.where(use, keypoints_px, torch.full_like(keypoints_px, big)).amin(1)
    hi = torch.where(use, keypoints_px, torch.full_like(keypoints_px, -big)).amax(1)
    size = (hi - lo).norm(dim=-1)
    return torch.where(torch.isfinite(size) & (size > 1), size, torch.full_like(size, 100.0))


def agreement_weights(keypoints_px, keypoints_rel, weights, sigma: float) -> torch.Tensor:
    """How well the detector's metric 3D agrees with its own 2D, per keypoint, in (0, 1].

    A weak-perspective (scale + offset) fit of the 3D x, y onto the 2D; a keypoint whose
    residual is `sigma` times the hand's 2D size gets exp(-1/2). (B, 21, 2), (B, 21, 3),
    (B, 21) -> (B, 21).
    """
    w = weights + 1e-9
    p = keypoints_rel[..., :2]
    p_bar, x_bar = _weighted_mean(p, w), _weighted_mean(keypoints_px, w)
    dp, dx = p - p_bar[:, None], keypoints_px - x_bar[:, None]
    s = (w * (dp * dx).sum(-1)).sum(-1) / (w * (dp * dp).sum(-1)).sum(-1).clamp_min(1e-12)
    res = (s[:, None, None] * dp - dx).norm(dim=-1) / hand_size_px(keypoints_px, weights)[:, None]
    return torch.exp(-0.5 * (res / sigma) ** 2)


def initial_orientation(layer: KeypointLayer, D: torch.Tensor, keypoints_rel, weights, pose0, betas) -> torch.Tensor:
    """(B, 3, 3) rotation taking the template palm (detector definition) onto the detector's
    metric palm (Kabsch on wrist + four MCPs)."""
    B = keypoints_rel.shape[0]
    eye = torch.eye(3, dtype=layer.dtype, device=layer.device).expand(B, 3, 3)
    template = apply_rows(D, layer(eye, pose0.expand(B, -1), betas))
    palm = list(PALM)
    _, R, _ = similarity_procrustes(template[:, palm], keypoints_rel[:, palm],
                                    weights[:, palm] + 1e-6, scale=False)
    return R


def _wrap_pose(pose):
    """Keep each axis-angle's angle in [0, pi] (same rotation) so priors see the short way."""
    return matrix_to_axis_angle(axis_angle_to_matrix(pose.reshape(-1, 15, 3))).reshape(-1, 45)


class _Problem:
    """One batch of frames: data, fixed weights, and the loss as a function of the parameters."""

    def __init__(self, layer, D, px, rel, w2d, K, opts: FitOptions, side, limit_fn, pose_mean):
        self.layer, self.D, self.px, self.rel, self.w2d, self.K = layer, D, px, rel, w2d, K
        self.opts, self.side, self.limit_fn, self.pose_mean = opts, side, limit_fn, pose_mean
        self.size_px = hand_size_px(px, w2d)
        self.a3d = agreement_weights(px, rel, w2d, opts.agreement_sigma) * (w2d > 0)
        self.rel_c = rel - _weighted_mean(rel, self.a3d + 1e-9)[:, None]
        self.axis_w = torch.tensor([1.0, 1.0, opts.z_weight], dtype=px.dtype, device=px.device)
        self.scale_free_3d = False
        self.prev = None  # (1, 21, 3) fitted landmarks of the frame before this batch, if any

    def landmarks(self, R, pose, betas):
        """Model keypoints (B, 21, 3) and detector-definition landmarks (B, 21, 3), model frame."""
        kp = self.layer(R, pose, betas)
        return kp, apply_rows(self.D, kp)

    def project(self, lm):
        """Landmarks (B, 21, 3) model frame -> pixels (B, 21, 2) and a (B,) validity mask."""
        if self.K is not None:
            res = solve_translation(self.px, lm, self.w2d + 1e-6, self.K)
            cam = lm + res.transl[:, None]
            ok = res.valid & (cam[..., 2] > 1e-3).all(-1)
            safe = torch.where(ok[:, None, None], cam, torch.ones_like(cam))
            return project(safe, self.K), ok
        w = self.w2d + 1e-6  # weak perspective, closed form (Boukhayma eq. 3-4)
        p = lm[..., :2]
        p_bar, x_bar = _weighted_mean(p, w), _weighted_mean(self.px, w)
        dp = p - p_bar[:, None]
        s = (w * (dp * (self.px - x_bar[:, None])).sum(-1)).sum(-1) / (w * (dp * dp).sum(-1)).sum(-1).clamp_min(1e-12)
        ok = s > 0
        return s[:, None, None] * dp + x_bar[:, None], ok

    def loss(self, R, pose, betas):
        o = self.opts
        kp, lm = self.landmarks(R, pose, betas)
        proj, ok = self.project(lm)
        e = ((proj - self.px) / self.size_px[:, None, None]).norm(dim=-1)
        e = torch.where(ok[:, None], e, torch.zeros_like(e))
        hub = torch.where(e < o.huber_2d, 0.5 * e * e / o.huber_2d, e - 0.5 * o.huber_2d)
        l2d = (self.w2d * hub).sum(-1) / self.w2d.sum(-1).clamp_min(1e-9)
        lm_c = lm - _weighted_mean(lm, self.a3d + 1e-9)[:, None]
        target = self.rel_c
        if self.scale_free_3d:  # size is known: compare the detector's 3D up to its scale
            aw = self.a3d[..., None] * self.axis_w ** 2
            s = (aw * lm_c * target).sum((1, 2)) / (aw * target * target).sum((1, 2)).clamp_min(1e-12)
            target = s.detach()[:, None, None] * target
        d3 = (((lm_c - target) * self.axis_w) ** 2).sum(-1) / HAND_SIZE_M ** 2
        l3d = (self.a3d * d3).sum(-1) / self.a3d.sum(-1).clamp_min(1e-9)
        lpose = ((pose - self.pose_mean) ** 2).sum(-1)
        per_frame = o.w_2d * l2d + o.w_3d * l3d + o.w_pose * lpose
        if self.limit_fn is not None:
            per_frame = per_frame + o.w_limits * self.limit_fn(pose)
        total = per_frame.sum()
        if o.w_temporal > 0:
            rel_lm = lm - lm[:, :1]  # wrist-relative, camera-aligned
            seq = rel_lm if self.prev is None else torch.cat([self.prev, rel_lm], 0)
            if seq.shape[0] > 1:
                total = total + o.w_temporal * ((seq[1:] - seq[:-1]) ** 2).sum((-1, -2)).sum() / HAND_SIZE_M ** 2
        total = total + o.w_shape * (betas ** 2).sum() * R.shape[0]
        return total / R.shape[0]


def _limit_fn(hand_model, hands_mean):
    """pose (B, 45) in the model's hand_pose terms -> (B,) joint-limit penalty (radians^2).

    The limits are built for the model's own asset (its joint frames and side: left hands
    are mirrored onto the right-hand frames inside `limits`)."""
    from ..hand.limits import build_joint_limits, limit_penalty

    limits = build_joint_limits(hand_model.asset)
    return lambda pose: limit_penalty(pose + hands_mean, limits)


def _optimise(problem: _Problem, R0, pose, betas_free, iterations, lr, shared_betas: bool, length_m):
    """Adam on (orientation delta, pose[, betas]); returns (R, pose, betas) detached."""
    B = R0.shape[0]
    delta = torch.zeros(B, 3, dtype=R0.dtype, device=R0.device, requires_grad=True)
    pose = pose.clone().requires_grad_(True)
    params = [delta, pose]
    if shared_betas:
        betas_free = betas_free.clone().requires_grad_(True)
        params.append(betas_free)
    opt = torch.optim.Adam(params, lr=lr)

    def full_betas(bf):
        if length_m is None:
            return bf
        return torch.cat([problem.layer.beta0_for_length(bf[1:], length_m)[None], bf[1:]])

    for _ in range(iterations):
        opt.zero_grad(set_to_none=True)
        R = R0 @ axis_angle_to_matrix(delta)
        loss = problem.loss(R, pose, full_betas(betas_free))
        loss.backward()
        opt.step()
    with torch.no_grad():
        R = R0 @ axis_angle_to_matrix(delta)
        return R, _wrap_pose(pose), full_betas(betas_free).detach()


@contextmanager
def _cpu_threads(device: torch.device, n: int = 1):
    """Run with n intra-op threads on CPU: the fit is many tiny ops, where thread hand-offs
    cost more than they save (measured 112 vs 14 frames/s with 1 vs 2 threads on a busy
    2-core machine, and no gain from 2 on an idle one)."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_track(keypoints_px, keypoints_rel, scores, K, side: str, hand_model, *, iterations: int | None = None,
              hand_length_m: float | None = None, device: str | torch.device = "cpu", batch_size: int = 256,
              options: FitOptions | None = None, intrinsics=None, image_size: tuple[int, int] | None = None,
              dtype: torch.dtype = torch.float32, init: dict | None = None, **_ignored) -> FitResult:
    """Fit hand parameters to one track of detections.

    Args:
        keypoints_px: (T, 21, 2) pixels, undistorted, pixel centres; the detector's landmarks.
        keypoints_rel: (T, 21, 3) metres, the detector's metric (world) landmarks, camera-aligned.
        scores: (T, 21) or (T,) confidences in [0, 1] (0 = ignore; NaN keypoints are ignored).
        K: (3, 3) intrinsics (numpy or tensor) or None for unknown intrinsics (weak perspective,
            assumed focal: pass `intrinsics` (an `Intrinsics`, e.g. the assumed one) or
            `image_size` (width, height)).
        side: "right" or "left", must match `hand_model.side`.
        hand_model: the `HandModel` whose parameters are fitted.
        iterations: Adam steps per batch (default `FitOptions.iterations`).
        hand_length_m: known wrist-to-middle-fingertip length of the flat hand (metres); fixes
            size and therefore depth.
        device: torch device ("cuda" when present runs the batches on the GPU).
        batch_size: frames optimised together. Longer tracks first fit the shape on up to
            `batch_size` frames spread over the track, then all frames in chunks.
        options: `FitOptions` (weights, schedule, detector definition).
        intrinsics, image_size: only for K=None (see K).
        dtype: computation dtype.
        init: warm start instead of the palm alignment: {"global_orient": (T, 3),
            "hand_pose": (T, 45) in this model's hand_pose terms, "betas": (S,) or (1, S)}
            (e.g. the learned model's prediction, for `--refine`).

    Returns:
        `FitResult` (numpy float32).
    """
    device = torch.device(device)
    with _cpu_threads(device):
        return _fit_track(keypoints_px, keypoints_rel, scores, K, side, hand_model, iterations, hand_length_m,
                          device, batch_size, options, intrinsics, image_size, dtype, init)


def _fit_track(keypoints_px, keypoints_rel, scores, K, side, hand_model, iterations, hand_length_m, device,
               batch_size, options, intrinsics, image_size, dtype, init) -> FitResult:
    opts = options or FitOptions()
    iterations = opts.iterations if iterations is None else int(iterations)
    if iterations < 0 or batch_size < 1:
        raise InputError(None, f"iterations must be >= 0 and batch_size >= 1, got {iterations}, {batch_size}")
    px = as_track_tensor("keypoints_px", keypoints_px, dtype, device)
    rel = as_track_tensor("keypoints_rel", keypoints_rel, dtype, device)
    sc = as_track_tensor("scores", scores, dtype, device)
    Kt = None if K is None else as_track_tensor("K", K, dtype, device)
    sc = check_track_inputs(px, rel, sc, Kt, side, hand_model, hand_length_m)
    px, rel, w2d = _clean(px, rel, sc)
    camera = "perspective"
    K_final = Kt
    if Kt is None:
        camera = "weak_perspective"
        K_final = _assumed_K(intrinsics, image_size, dtype, device)

    layer = KeypointLayer(hand_model, dtype=dtype, device=device)
    D = torch.tensor(detector_matrix(opts.definition), dtype=dtype, device=device)
    asset_mean = torch.as_tensor(np.asarray(hand_model.asset.hands_mean), dtype=dtype, device=device)
    pose_mean = asset_mean - layer.hands_mean  # the relaxed hand, in this model's hand_pose terms
    limit_fn = _limit_fn(hand_model, layer.hands_mean) if opts.w_limits > 0 else None
    T = px.shape[0]
    S = layer.num_betas
    betas = torch.zeros(S, dtype=dtype, device=device)
    if init is not None:
        warm_R = axis_angle_to_matrix(as_track_tensor("init global_orient", init["global_orient"], dtype, device))
        warm_pose = as_track_tensor("init hand_pose", init["hand_pose"], dtype, device)
        betas = as_track_tensor("init betas", init["betas"], dtype, device).reshape(-1)[:S].clone()
    if hand_length_m is not None:
        betas[0] = layer.beta0_for_length(betas[1:], float(hand_length_m))
    lr = opts.lr
    if opts.unknown_camera not in ("weak_perspective", "assumed_perspective"):
        raise InputError(None, f"unknown_camera must be 'weak_perspective' or 'assumed_perspective', "
                               f"got {opts.unknown_camera!r}")
    K_loop = Kt if Kt is not None or opts.unknown_camera == "weak_perspective" else K_final

    def problem_for(idx):
        return _Problem(layer, D, px[idx], rel[idx], w2d[idx], K_loop, opts, side, limit_fn, pose_mean)

    def start_values(idx, b):
        if init is not None:
            return warm_R[idx], warm_pose[idx].clone()
        R0 = initial_orientation(layer, D, rel[idx], w2d[idx], pose_mean, b)
        return R0, pose_mean.expand(len(idx), -1).clone()

    if T > batch_size:  # shape first, on frames spread over the track (best-scored of each stretch)
        idx = torch.as_tensor(np.linspace(0, T - 1, batch_size).round().astype(int), device=device).unique()
        prob = problem_for(idx)
        prob.scale_free_3d = hand_length_m is not None
        prob.opts = _no_temporal(opts)
        R0, pose0 = start_values(idx, betas)
        _, _, betas = _optimise(prob, R0, pose0, betas, iterations, lr, True, hand_length_m)
        shared = False
    else:
        shared = True

    Rs, poses, prev = [], [], None
    for start in range(0, T, batch_size):
        idx = torch.arange(start, min(T, start + batch_size), device=device)
        prob = problem_for(idx)
        prob.scale_free_3d = hand_length_m is not None
        prob.prev = prev
        R0, pose0 = start_values(idx, betas)
        R, pose, b = _optimise(prob, R0, pose0, betas, iterations, lr, shared, hand_length_m)
        if shared:
            betas = b
        Rs.append(R)
        poses.append(pose)
        with torch.no_grad():
            _, lm = prob.landmarks(R[-1:], pose[-1:], betas)
            prev = lm - lm[:, :1]
    R = torch.cat(Rs)
    pose = torch.cat(poses)
    return _finish(layer, D, R, pose, betas, px, w2d, K_final, camera)


def _no_temporal(opts: FitOptions) -> FitOptions:
    from dataclasses import replace

    return replace(opts, w_temporal=0.0)


def _assumed_K(intrinsics, image_size, dtype, device) -> torch.Tensor:
    from ..camera.weak_perspective import assumed_intrinsics

    if intrinsics is not None:
        return intrinsics.K(dtype=dtype, device=device)
    if image_size is None:
        raise InputError(None, "fit_track: with unknown intrinsics (K=None) give `intrinsics` "
                               "(e.g. the assumed ones) or `image_size` (width, height)")
    W, H = image_size
    return assumed_intrinsics(int(W), int(H)).K(dtype=dtype, device=device)


@torch.no_grad()
def _finish(layer, D, R, pose, betas, px, w2d, K, camera) -> FitResult:
    """Final DGP translation (with a few Gauss-Newton steps on the pixel error), outputs."""
    T = R.shape[0]
    kp = layer(R, pose, betas)
    lm = apply_rows(D, kp)
    res = solve_translation(px, lm, w2d + 1e-6, K, refine_iters=3)
    transl = res.transl
    bad = ~res.valid
    if bool(bad.any()):  # e.g. a frame with no usable keypoint: nearest valid frame's translation
        good = torch.nonzero(res.valid)[:, 0]
        if len(good):
            nearest = good[(torch.arange(T, device=R.device)[:, None] - good[None]).abs().argmin(1)]
            transl = torch.where(bad[:, None], transl[nearest], transl)
    cam = lm + transl[:, None]
    err = (project(cam, K) - px).norm(dim=-1)
    use = w2d > 0
    reproj = torch.where(use, err, torch.zeros_like(err)).sum(-1) / use.sum(-1).clamp_min(1)
    size = hand_size_px(px, w2d)
    conf = w2d * torch.exp(-0.5 * (err / (0.1 * size[:, None])) ** 2)
    f32 = lambda t: t.detach().to("cpu", torch.float32).numpy()  # noqa: E731
    return FitResult(global_orient=f32(matrix_to_axis_angle(R)), hand_pose=f32(pose), betas=f32(betas),
                     transl=f32(transl), keypoints_cam=f32(kp + transl[:, None]), confidence=f32(conf),
                     reprojection_px=f32(reproj), camera=camera)


__all__ = ["FitOptions", "FitResult", "KeypointLayer", "agreement_weights", "apply_rows", "fit_track", "hand_size_px",
           "initial_orientation"]
