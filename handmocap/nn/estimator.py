"""Hand parameters of a track from the learned keypoint model (the tracker's default estimator).

`estimate_track` has the signature and result type of `solve.fitting.fit_track`:

    detections (T frames) -> left hands mirrored into right hands -> keypoint model (rectified,
    batched) -> one shape for the track (score-weighted mean of the per-frame betas, or the
    known hand length) -> hand-model keypoints -> DGP translation in each frame's virtual
    camera with the predicted weights -> back to the real camera -> mirrored back -> FitResult

With `refine=True` the refinement of `solve.refine` runs afterwards, warm-started from the
model's output: it fits the keypoints, trusting the detector's 3D only as far as it agrees
with its 2D (exact input is used fully; MediaPipe's is mostly left to the model). Without
it, the frames whose 3D agrees with their 2D at least AUTO_REFINE_TRUST are refined anyway
(`auto_refine`): such input is worth fitting, and the network alone stops ~5 mm short of the
hand model's floor on it. MediaPipe never comes near (its world landmarks come from another
head than its image landmarks: trust 0.00 on every frame of the own and people clips), so
its results are the network's.
Unknown intrinsics (K=None): the assumed camera of `camera.weak_perspective` (60 degrees
across the larger side), as for fitting.
"""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache

import torch

from ..camera.pinhole import project
from ..errors import InputError
from ..geometry.rotations import matrix_to_axis_angle
from ..hand.mirror import mirror_axis_angle, mirror_points
from ..solve.detector_offsets import detector_matrix
from ..solve.fitting import FitResult, as_track_tensor, check_track_inputs, hand_size_px
from .checkpoint import default_weights_path, load_keypoint_model
from .keypoint_model import KeypointDecoder, canonical_input, translate

# `solve.refine.trust_3d` at which a frame is refined without refine=True: exact keypoints
# 1.0; MediaPipe's relative 2D/3D disagreement of 2-7% of the hand's size gives 0.00
AUTO_REFINE_TRUST = 0.5


@contextmanager
def _one_cpu_thread(device: torch.device):
    """Small batched ops run faster on one intra-op thread than two on a 2-core machine
    (the fitter measured the same); GPUs are unaffected."""
    if device.type != "cpu":
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@lru_cache(maxsize=4)
def _cached_model(path: str, device: str):
    return load_keypoint_model(path, device=device)


def _right_model(hand_model):
    """The right-hand counterpart of `hand_model` (itself for right hands)."""
    if hand_model.side == "right":
        return hand_model
    from ..hand import HandModel, mirror_asset

    return HandModel(mirror_asset(hand_model.asset), flat_hand_mean=hand_model.flat_hand_mean)


def _camera(K, intrinsics, image_size, device):
    if K is not None:
        return as_track_tensor("K", K, torch.float32, device), "perspective"
    from ..camera.weak_perspective import assumed_intrinsics

    if intrinsics is not None:
        return intrinsics.K(dtype=torch.float32, device=device), "weak_perspective"
    if image_size is None:
        raise InputError(None, "estimate_track: with unknown intrinsics (K=None) give `intrinsics` or `image_size`")
    return assumed_intrinsics(int(image_size[0]), int(image_size[1])).K(dtype=torch.float32, device=device), \
        "weak_perspective"


@torch.no_grad()
def predict_right(model, decoder, D, px, rel, sc, K, batch_size: int, hand_length_m=None, shared_betas: bool = True,
                  mode: str | None = None):
    """Right hands, real camera. px (T, J, 2), rel (T, J, 3), sc (T, J), K (3, 3) or (T, 3, 3).

    Args:
        shared_betas: one shape for all T frames (a track); False: per-frame shapes.
        mode: translation mode (default the model's: "dgp").

    Returns dict: global_orient (T, 3), hand_pose (T, 45), betas (T, S), transl (T, 3)
    (HandModel convention), keypoints_cam (T, J, 3), landmarks_cam (T, J, 3), weights (T, J),
    valid (T,).
    """
    T = px.shape[0]
    mode = mode or model.config.translation
    chunks = []
    for s in range(0, T, batch_size):
        sl = slice(s, min(T, s + batch_size))
        Kb = K if K.dim() == 2 else K[sl]
        ci = canonical_input(px[sl], rel[sl], sc[sl], Kb, model.config.rectify)
        chunks.append((sl, ci, model(ci.features)))
    beta = torch.cat([out["betas"] for _, _, out in chunks])
    if shared_betas:  # one shape per track: frames weighted by their mean score
        fw = torch.cat([ci.weights for _, ci, _ in chunks]).mean(-1) + 1e-6
        beta = ((fw[:, None] * beta).sum(0) / fw.sum())[None].expand(T, -1).clone()
    if hand_length_m is not None:
        beta[:, 0] = decoder.layer.beta0_for_length(beta[0, 1:].to(decoder.J_template.dtype), float(hand_length_m))
    parts = [_decode(model, decoder, D, ci, out, beta[sl], mode) for sl, ci, out in chunks]
    res = {k: torch.cat([p[k] for p in parts]) for k in parts[0]}
    return _to_camera(res, decoder, beta, fill_invalid=True)


def _decode(model, decoder, D, ci, out, beta, mode: str) -> dict:
    """The network's output `out` for the canonical input `ci` (n frames) with shapes beta (n, S),
    in the virtual camera: rot, kp, lm (n, J, 3), t_v (n, 3), valid (n,), w (n, J), R (n, 3, 3)."""
    kp = decoder(out["rotations"], beta)
    lm = D @ kp
    w = torch.sigmoid(out["weight_logits"])
    t_v, _, _, valid = translate(mode, lm, w, out, ci)
    return {"rot": out["rotations"], "kp": kp, "lm": lm, "t_v": t_v, "valid": valid, "w": w, "R": ci.R}


def _to_camera(res: dict, decoder, beta, fill_invalid: bool = True) -> dict:
    """`_decode`'s virtual-camera results (T frames) in the real camera, HandModel convention."""
    rot, kp, lm, t_v, valid, w, R = (res[k] for k in ("rot", "kp", "lm", "t_v", "valid", "w", "R"))
    T = kp.shape[0]
    if fill_invalid and bool((~valid).any()) and bool(valid.any()):  # e.g. no usable keypoint: nearest valid frame
        good = torch.nonzero(valid)[:, 0]
        nearest = good[(torch.arange(T, device=kp.device)[:, None] - good[None]).abs().argmin(1)]
        t_v = torch.where(valid[:, None], t_v, t_v[nearest])
    Rt = R.transpose(-1, -2)
    kp_cam = (kp + t_v[:, None]) @ R
    lm_cam = (lm + t_v[:, None]) @ R
    J0 = decoder.rest(beta)[0][:, 0]  # rest wrist: the root rotates about it
    transl = (Rt @ (t_v + J0)[..., None])[..., 0] - J0
    go = matrix_to_axis_angle(Rt @ rot[:, 0])
    pose = matrix_to_axis_angle(rot[:, 1:]).reshape(T, 45) - decoder.hands_mean.reshape(1, 45)
    return {"global_orient": go, "hand_pose": pose, "betas": beta, "transl": transl, "keypoints_cam": kp_cam,
            "landmarks_cam": lm_cam, "weights": w, "valid": valid}


def _refine(px, rel, sc, K, hand_model, init: dict, camera: str, options=None):
    """Refinement by fitting (`solve.refine`), warm-started from the model's output (already
    on the track's side); the track's shape stays the model's."""
    from ..solve.refine import refine_frames

    return refine_frames(px, rel, sc, K, hand_model, init, options=options, camera=camera)


def estimate_track(keypoints_px, keypoints_rel, scores, K, side: str, hand_model, *, hand_length_m: float | None = None,
                   device: str | torch.device = "cpu", batch_size: int = 256, refine: bool = False, intrinsics=None,
                   image_size: tuple[int, int] | None = None, weights_path=None, refine_options=None,
                   auto_refine: bool = True, **_ignored) -> FitResult:
    """Hand parameters of one track from the keypoint model.

    Args:
        keypoints_px: (T, 21, 2) pixels, undistorted, pixel centres (the detector's landmarks).
        keypoints_rel: (T, 21, 3) metres, the detector's metric landmarks, camera-aligned.
        scores: (T, 21) or (T,) confidences in [0, 1] (0 or NaN keypoints are ignored).
        K: (3, 3) intrinsics or None (unknown: `intrinsics`, e.g. the assumed ones, or `image_size`).
        side: "right" or "left", must match `hand_model.side`.
        hand_model: the `HandModel` whose parameters are returned.
        hand_length_m: known wrist-to-middle-fingertip length (metres): fixes size and depth.
        device: torch device for the network.  batch_size: frames per network batch.
        refine: refine by fitting afterwards (`solve.refine`), starting from the model's
            output; the track's shape stays the model's.
        refine_options: `solve.refine.RefineOptions` (None: defaults).
        weights_path: a keypoint-model checkpoint (None: the shipped weights).
        auto_refine: without `refine`, still refine the frames whose 3D agrees with their 2D
            (trust >= AUTO_REFINE_TRUST); False: the network's output as it is.

    Returns:
        `solve.fitting.FitResult` (numpy float32).
    """
    with _one_cpu_thread(torch.device(device)):
        return _estimate_track(keypoints_px, keypoints_rel, scores, K, side, hand_model, hand_length_m=hand_length_m,
                               device=device, batch_size=batch_size, refine=refine, intrinsics=intrinsics,
                               image_size=image_size, weights_path=weights_path, refine_options=refine_options,
                               auto_refine=auto_refine)


def _estimate_track(keypoints_px, keypoints_rel, scores, K, side: str, hand_model, *, hand_length_m: float | None = None,
                   device: str | torch.device = "cpu", batch_size: int = 256, refine: bool = False, intrinsics=None,
                   image_size: tuple[int, int] | None = None, weights_path=None, refine_options=None,
                   auto_refine: bool = True, **_ignored) -> FitResult:
    if batch_size < 1:
        raise InputError(None, f"batch_size must be >= 1, got {batch_size}")
    device = torch.device(device)
    px, rel, sc = (as_track_tensor(n, x, torch.float32, device) for n, x in
                   (("keypoints_px", keypoints_px), ("keypoints_rel", keypoints_rel), ("scores", scores)))
    Kt = None if K is None else as_track_tensor("K", K, torch.float32, device)
    sc = check_track_inputs(px, rel, sc, Kt, side, hand_model, hand_length_m, caller="estimate_track")
    camera_K, camera = _camera(Kt, intrinsics, image_size, device)
    path = str(default_weights_path() if weights_path is None else weights_path)
    model = _cached_model(path, str(device))
    right = _right_model(hand_model)
    decoder = KeypointDecoder(right).to(device)
    D = torch.tensor(detector_matrix(model.config.definition), dtype=torch.float32, device=device)

    px_obs, rel_obs, w_in, px_in, rel_in = _prepared(px, rel, sc, side, camera_K)
    p = predict_right(model, decoder, D, px_in, rel_in, w_in, camera_K, batch_size, hand_length_m)
    return _result(p, side, px_obs, rel_obs, w_in, camera_K, camera, hand_model, refine, refine_options, auto_refine)


def _prepared(px, rel, sc, side: str, camera_K):
    """Inputs cleaned (non-finite keypoints weigh 0) and, for left hands, mirrored into right ones.
    Returns px_obs (T, J, 2), rel_obs (T, J, 3) as seen; w_in (T, J); px_in, rel_in: the model's input."""
    finite = torch.isfinite(px).all(-1) & torch.isfinite(rel).all(-1) & torch.isfinite(sc)
    w_in = torch.where(finite, sc.clamp(0, 1), torch.zeros_like(sc))
    px_obs = torch.where(finite[..., None], px, torch.zeros_like(px))  # as seen, for the residuals
    rel_obs = torch.where(finite[..., None], rel, torch.zeros_like(rel))
    px_in, rel_in = px_obs, rel_obs
    if side == "left":  # mirror about the principal point: the rays' x flips, K unchanged
        cx = camera_K[0, 2]
        px_in = torch.stack([2 * cx - px_in[..., 0], px_in[..., 1]], -1)
        rel_in = mirror_points(rel_in)
    return px_obs, rel_obs, w_in, px_in, rel_in


def _result(p: dict, side: str, px_obs, rel_obs, w_in, camera_K, camera: str, hand_model, refine: bool,
            refine_options, auto_refine: bool = True) -> FitResult:
    """`predict_right`'s output back on the track's side (and refined: every frame with
    `refine`, else those of trust >= AUTO_REFINE_TRUST unless auto_refine is False), as a
    `FitResult`."""
    if side == "left":
        p["global_orient"] = mirror_axis_angle(p["global_orient"])
        p["hand_pose"] = mirror_axis_angle(p["hand_pose"])
        for k in ("transl", "keypoints_cam", "landmarks_cam"):
            p[k] = mirror_points(p[k])

    # residuals against the observed keypoints: the outputs are back on the track's own side
    err = (project(p["landmarks_cam"], camera_K) - px_obs).norm(dim=-1)
    use = w_in > 0
    reproj = torch.where(use, err, torch.zeros_like(err)).sum(-1) / use.sum(-1).clamp_min(1)
    size = hand_size_px(px_obs, w_in)
    conf = w_in * p["weights"] * torch.exp(-0.5 * (err / (0.1 * size[:, None])) ** 2)
    f32 = lambda t: t.detach().to("cpu", torch.float32).numpy()  # noqa: E731
    fit = FitResult(global_orient=f32(p["global_orient"]), hand_pose=f32(p["hand_pose"]), betas=f32(p["betas"][0]),
                    transl=f32(p["transl"]), keypoints_cam=f32(p["keypoints_cam"]), confidence=f32(conf),
                    reprojection_px=f32(reproj), camera=camera)
    if not (refine or auto_refine):
        return fit
    return _refine_rows(fit, p, px_obs, rel_obs, w_in, camera_K, camera, hand_model, refine_options,
                        everywhere=refine)


def _refine_rows(fit: FitResult, p: dict, px_obs, rel_obs, w_in, camera_K, camera: str, hand_model,
                 refine_options, everywhere: bool) -> FitResult:
    """`fit` with its frames replaced by their refinement: every frame (`everywhere`), else
    those of trust >= AUTO_REFINE_TRUST."""
    if everywhere:
        rows = torch.arange(px_obs.shape[0], device=px_obs.device)
    else:
        from ..solve.refine import RefineOptions, trust_3d

        o = refine_options or RefineOptions()
        with torch.no_grad():
            trust = trust_3d(px_obs, rel_obs, w_in, camera_K, o.trust_sigma, o.agreement_sigma)[0]
        rows = torch.nonzero(trust >= AUTO_REFINE_TRUST)[:, 0]
    if len(rows) == 0:
        return fit
    K = camera_K if camera_K.dim() == 2 else camera_K[rows]
    sub = _refine(px_obs[rows], rel_obs[rows], w_in[rows], K, hand_model,
                  {"global_orient": p["global_orient"][rows], "hand_pose": p["hand_pose"][rows],
                   "betas": p["betas"][0]}, camera, refine_options)
    idx = rows.cpu().numpy()
    for name in ("global_orient", "hand_pose", "transl", "keypoints_cam", "confidence", "reprojection_px"):
        getattr(fit, name)[idx] = getattr(sub, name)
    return fit


class TrackEstimator:
    """`estimate_track` for a track that arrives a piece at a time (the streamed tracker).

    The network runs on each piece as it comes (`network`); the track's shape is the
    score-weighted mean of the betas of its first frames, as many as the caller gives
    (`fix_shape`); every piece is then finished with that shape (`finish`). The result of a
    piece depends on its own frames and the shape only (an invalid DGP translation takes the
    nearest valid one within the piece).

        est = TrackEstimator(K, "left", HandModel(side="left"))
        pieces = [est.network(px, rel, sc) for px, rel, sc in first_pieces]
        est.fix_shape(pieces)
        fits = [est.finish(p) for p in pieces]      # FitResult per piece
    """

    def __init__(self, K, side: str, hand_model, *, hand_length_m: float | None = None,
                 device: str | torch.device = "cpu", refine: bool = False, intrinsics=None,
                 image_size: tuple[int, int] | None = None, weights_path=None, refine_options=None,
                 auto_refine: bool = True):
        self.device = torch.device(device)
        Kt = None if K is None else as_track_tensor("K", K, torch.float32, self.device)
        check_track_inputs(torch.zeros(1, 21, 2), torch.zeros(1, 21, 3), torch.ones(1, 21), Kt, side, hand_model,
                           hand_length_m, caller="TrackEstimator")
        self.camera_K, self.camera = _camera(Kt, intrinsics, image_size, self.device)
        path = str(default_weights_path() if weights_path is None else weights_path)
        self.model = _cached_model(path, str(self.device))
        self.decoder = KeypointDecoder(_right_model(hand_model)).to(self.device)
        self.D = torch.tensor(detector_matrix(self.model.config.definition), dtype=torch.float32, device=self.device)
        self.side, self.hand_model, self.hand_length_m = side, hand_model, hand_length_m
        self.refine, self.refine_options, self.auto_refine = refine, refine_options, auto_refine
        self.betas = None  # (S,) once fixed

    @torch.no_grad()
    def network(self, keypoints_px, keypoints_rel, scores) -> dict:
        """Run the network on n frames: px (n, 21, 2) pixels, rel (n, 21, 3) metres, scores (n, 21)
        or (n,). Returns the piece (inputs and network output) for `fix_shape` and `finish`."""
        with _one_cpu_thread(self.device):
            px, rel, sc = (as_track_tensor(n, x, torch.float32, self.device) for n, x in
                           (("keypoints_px", keypoints_px), ("keypoints_rel", keypoints_rel), ("scores", scores)))
            sc = sc[:, None].expand(px.shape[:2]) if sc.dim() == 1 else sc
            px_obs, rel_obs, w_in, px_in, rel_in = _prepared(px, rel, sc, self.side, self.camera_K)
            ci = canonical_input(px_in, rel_in, w_in, self.camera_K, self.model.config.rectify)
            return {"obs": (px_obs, rel_obs, w_in), "ci": ci, "out": self.model(ci.features)}

    def fix_shape(self, pieces: list) -> None:
        """The track's shape from these pieces' frames (score-weighted mean of their betas, as
        `predict_right`), or the known hand length's."""
        beta = torch.cat([p["out"]["betas"] for p in pieces])
        fw = torch.cat([p["ci"].weights for p in pieces]).mean(-1) + 1e-6
        beta = ((fw[:, None] * beta).sum(0) / fw.sum())
        if self.hand_length_m is not None:
            beta = beta.clone()
            beta[0] = self.decoder.layer.beta0_for_length(beta[1:].to(self.decoder.J_template.dtype),
                                                         float(self.hand_length_m))
        self.betas = beta

    def finish(self, piece: dict) -> FitResult:
        """The piece's `FitResult` with the fixed shape (betas (S,))."""
        if self.betas is None:
            raise InputError(None, "TrackEstimator.finish: fix_shape first")
        with _one_cpu_thread(self.device):
            n = piece["ci"].features.shape[0]
            beta = self.betas[None].expand(n, -1).clone()
            with torch.no_grad():  # not around the refinement: it optimises
                res = _decode(self.model, self.decoder, self.D, piece["ci"], piece["out"], beta,
                              self.model.config.translation)
                p = _to_camera(res, self.decoder, beta)
            px_obs, rel_obs, w_in = piece["obs"]
            return _result(p, self.side, px_obs, rel_obs, w_in, self.camera_K, self.camera, self.hand_model,
                           self.refine, self.refine_options, self.auto_refine)


__all__ = ["TrackEstimator", "estimate_track", "predict_right"]
