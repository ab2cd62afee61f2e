"""Refinement of an estimate by fitting the keypoints (Boukhayma et al.'s "2D fit", extended
with the detector's metric 3D keypoints), warm-started from the learned model.

Short (tens of Adam steps), batched over frames, confidence-aware. Per frame it minimises

    L = w2d   * sum_i c_i huber(|proj_i - x_i| / size_px) / sum_i c_i              (2D)
      + w3d t * sum_i c_i a_i |(m_i - m_bar) - s (k_i - k_bar)|^2 / s0^2 / sum c a  (3D, shape only)
      + wanc (1 - t) |theta - theta_0|^2 + wanc_min |theta - theta_0|^2            (stay near the model)
      + wlim * limit_penalty(theta) + wshape |beta - beta_0|^2

with proj_i the DGP-placed landmarks (HandDGP eq. 7), c_i the detector's scores, s the
least-squares scale of the detector's 3D onto the model (its size is not trusted: the hand's
size comes from the model), and t in [0, 1] the frame's *trust in the 3D*: how well the
detector's 3D keypoints, placed in the camera by DGP, reproject onto its own 2D keypoints
(relative RMS residual r of the hand's 2D size, t = exp(-r^2 / 2 sigma^2)); a_i the same per
keypoint. Exact keypoints agree perfectly (t = 1), so the fit uses them fully; a detector whose
3D disagrees with its 2D (MediaPipe's world landmarks come from another head than its image
landmarks, with flattened depth) is trusted less and the estimate stays near the model, which
has learned that detector's errors. Letters: B frames, J=21, S shape coefficients.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..camera.pinhole import project
from ..geometry.rotations import axis_angle_to_matrix
from .detector_offsets import DEFAULT_DEFINITION, detector_matrix
from .dgp import solve_translation
from .fitting import (HAND_SIZE_M, FitResult, KeypointLayer, _clean, _cpu_threads, _finish, _limit_fn, _weighted_mean,
                      _wrap_pose, apply_rows, hand_size_px)


@dataclass(frozen=True)
class RefineOptions:
    """Weights and schedule of the refinement (module docstring).

    trust_sigma: relative 2D/3D disagreement of a frame at which its 3D trust is exp(-1/2).
    agreement_sigma: the same per keypoint.
    """

    iterations: int = 40
    lr: float = 0.02
    w_2d: float = 1.0
    w_3d: float = 3.0
    w_anchor: float = 100.0
    w_anchor_min: float = 1e-3
    w_limits: float = 1.0
    w_shape: float = 1e-2
    huber_2d: float = 0.02
    trust_sigma: float = 0.01
    agreement_sigma: float = 0.05
    definition: str = DEFAULT_DEFINITION


def trust_3d(keypoints_px, keypoints_rel, weights, K, sigma: float, agreement_sigma: float):
    """How far the detector's metric 3D agrees with its own 2D.

    The 3D keypoints are placed in the camera by DGP on the 2D keypoints and reprojected.

    Args:
        keypoints_px: (B, J, 2) pixels.  keypoints_rel: (B, J, 3) metres.  weights: (B, J).
        K: (3, 3) or (B, 3, 3).  sigma, agreement_sigma: relative residuals (of the 2D size)
            at which frame / keypoint trust falls to exp(-1/2).

    Returns:
        (trust (B,), agreement (B, J), residual (B,) relative RMS), all in [0, 1] but residual.
    """
    res = solve_translation(keypoints_px, keypoints_rel, weights + 1e-6, K)
    cam = keypoints_rel + res.transl[:, None]
    ok = res.valid & (cam[..., 2] > 1e-3).all(-1)
    safe = torch.where(ok[:, None, None], cam, torch.ones_like(cam))
    err = (project(safe, K) - keypoints_px).norm(dim=-1) / hand_size_px(keypoints_px, weights)[:, None]
    w = weights + 1e-9
    r = ((w * err ** 2).sum(-1) / w.sum(-1)).sqrt()
    r = torch.where(ok, r, torch.full_like(r, 1.0))
    return torch.exp(-0.5 * (r / sigma) ** 2), torch.exp(-0.5 * (err / agreement_sigma) ** 2) * ok[:, None], r


def refine_frames(keypoints_px, keypoints_rel, scores, K, hand_model, init: dict, *,
                  options: RefineOptions | None = None, batch_size: int = 512, camera: str = "perspective") -> FitResult:
    """Refine per-frame estimates (the learned model's) by fitting the detector's keypoints.

    Args:
        keypoints_px: (T, J, 2) pixels.  keypoints_rel: (T, J, 3) metres, camera-aligned.
        scores: (T, J) or (T,) in [0, 1].  K: (3, 3) or (T, 3, 3) (the assumed one when unknown).
        hand_model: the `HandModel` of the estimates' side.
        init: {"global_orient": (T, 3), "hand_pose": (T, 45) (this model's hand_pose terms),
            "betas": (T, S) per-frame or (S,) / (1, S) one shape for all frames}.
        options: `RefineOptions`.  batch_size: frames per optimiser batch.
        camera: the `FitResult.camera` label.

    Returns:
        `FitResult`; betas (T, S) when per-frame betas came in, else (S,) (kept as given: a
        track's shape is not refitted here).
    """
    with _cpu_threads(torch.device("cpu")):  # many tiny ops: one thread is 10x faster on a busy machine
        return _refine_frames(keypoints_px, keypoints_rel, scores, K, hand_model, init, options, batch_size, camera)


def _refine_frames(keypoints_px, keypoints_rel, scores, K, hand_model, init, options, batch_size, camera):
    o = options or RefineOptions()
    f = lambda x: torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x,  # noqa: E731
                                  dtype=torch.float32)
    px, rel = f(keypoints_px), f(keypoints_rel)
    sc = f(scores)
    sc = sc[:, None].expand(px.shape[:2]) if sc.dim() == 1 else sc
    px, rel, w2d = _clean(px, rel, sc)
    T = px.shape[0]
    Kt = f(K)
    layer = KeypointLayer(hand_model)
    D = torch.tensor(detector_matrix(o.definition), dtype=torch.float32)
    limit_fn = _limit_fn(hand_model, layer.hands_mean) if o.w_limits > 0 else None
    go0, pose0 = f(init["global_orient"]), f(init["hand_pose"])
    b0 = f(init["betas"])
    per_frame_betas = b0.dim() == 2 and b0.shape[0] == T and T > 1
    b0 = b0 if per_frame_betas else b0.reshape(-1)[None].expand(T, -1)
    Rs, poses, betas = [], [], []
    for s in range(0, T, batch_size):
        sl = slice(s, min(T, s + batch_size))
        Kb = Kt if Kt.dim() == 2 else Kt[sl]
        R, p, b = _refine_batch(layer, D, limit_fn, px[sl], rel[sl], w2d[sl], Kb, go0[sl], pose0[sl], b0[sl],
                                per_frame_betas, o)
        Rs.append(R), poses.append(p), betas.append(b)
    R, pose, b = torch.cat(Rs), torch.cat(poses), torch.cat(betas)
    if per_frame_betas:
        return _finish_frames(layer, D, R, pose, b, px, w2d, Kt, camera)
    return _finish(layer, D, R, pose, b[0], px, w2d, Kt, camera)


def _refine_batch(layer, D, limit_fn, px, rel, w2d, K, go0, pose0, b0, free_betas: bool, o: RefineOptions):
    trust, agree, _ = trust_3d(px, rel, w2d, K, o.trust_sigma, o.agreement_sigma)
    size = hand_size_px(px, w2d)
    a3 = w2d * agree
    rel_c = rel - _weighted_mean(rel, a3 + 1e-9)[:, None]
    R0 = axis_angle_to_matrix(go0)
    delta = torch.zeros_like(go0, requires_grad=True)
    pose = pose0.clone().requires_grad_(True)
    betas = b0.clone().requires_grad_(free_betas)
    opt = torch.optim.Adam([delta, pose] + ([betas] if free_betas else []), lr=o.lr)
    w_anchor = o.w_anchor * (1 - trust) + o.w_anchor_min
    for _ in range(o.iterations):
        opt.zero_grad(set_to_none=True)
        R = R0 @ axis_angle_to_matrix(delta)
        lm = apply_rows(D, layer(R, pose, betas))
        res = solve_translation(px, lm, w2d + 1e-6, K)
        cam = lm + res.transl[:, None]
        ok = res.valid & (cam[..., 2] > 1e-3).all(-1)
        proj = project(torch.where(ok[:, None, None], cam, torch.ones_like(cam)), K)
        e = ((proj - px) / size[:, None, None]).norm(dim=-1) * ok[:, None]
        hub = torch.where(e < o.huber_2d, 0.5 * e * e / o.huber_2d, e - 0.5 * o.huber_2d)
        l2d = (w2d * hub).sum(-1) / w2d.sum(-1).clamp_min(1e-9)
        lm_c = lm - _weighted_mean(lm, a3 + 1e-9)[:, None]
        scale = ((a3[..., None] * lm_c * rel_c).sum((1, 2)) /
                 (a3[..., None] * rel_c * rel_c).sum((1, 2)).clamp_min(1e-12)).detach()
        d3 = ((lm_c - scale[:, None, None] * rel_c) ** 2).sum(-1) / HAND_SIZE_M ** 2
        l3d = (a3 * d3).sum(-1) / a3.sum(-1).clamp_min(1e-9)
        lanc = ((pose - pose0) ** 2).sum(-1)
        per = o.w_2d * l2d + o.w_3d * trust * l3d + w_anchor * lanc + o.w_shape * ((betas - b0) ** 2).sum(-1)
        if limit_fn is not None:
            per = per + o.w_limits * limit_fn(pose)
        per.sum().backward()
        opt.step()
    with torch.no_grad():
        return R0 @ axis_angle_to_matrix(delta), _wrap_pose(pose), betas.detach()


@torch.no_grad()
def _finish_frames(layer, D, R, pose, betas, px, w2d, K, camera) -> FitResult:
    """`fitting._finish` with per-frame betas (T, S)."""
    T = R.shape[0]
    kp = layer(R, pose, betas)
    lm = apply_rows(D, kp)
    res = solve_translation(px, lm, w2d + 1e-6, K, refine_iters=3)
    cam = lm + res.transl[:, None]
    err = (project(cam, K) - px).norm(dim=-1)
    use = w2d > 0
    reproj = torch.where(use, err, torch.zeros_like(err)).sum(-1) / use.sum(-1).clamp_min(1)
    conf = w2d * torch.exp(-0.5 * (err / (0.1 * hand_size_px(px, w2d)[:, None])) ** 2)
    from ..geometry.rotations import matrix_to_axis_angle

    f32 = lambda t: t.detach().to("cpu", torch.float32).numpy()  # noqa: E731
    return FitResult(global_orient=f32(matrix_to_axis_angle(R)), hand_pose=f32(pose), betas=f32(betas),
                     transl=f32(res.transl), keypoints_cam=f32(kp + res.transl[:, None]), confidence=f32(conf),
                     reprojection_px=f32(reproj), camera=camera)


__all__ = ["RefineOptions", "refine_frames", "trust_3d"]
