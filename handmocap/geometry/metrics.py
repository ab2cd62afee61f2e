"""Evaluation metrics shared by tests, training and benchmarks (FreiHAND protocol).

Every function takes numpy arrays or torch tensors and returns the same kind (tensors stay on
their device). Units follow the input: with metres in, errors and thresholds are metres
(5 mm = 0.005). Per-sample values are returned so callers can average over a dataset.

    mpjpe       mean per-joint position error (no alignment)
    pa_mpjpe    mean error after similarity Procrustes alignment (scale, rotation, translation)
    pa_mpvpe    the same on mesh vertices
    f_score     FreiHAND F-score at a distance threshold, on aligned (or raw) vertices
    pck_3d      fraction of keypoints with error <= threshold, per threshold
    auc         area under the PCK curve over [0, 50 mm], normalised to [0, 1]
    pck_2d      2D PCK in pixels
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import check_shape
from .procrustes import procrustes_align


def _torch(x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    arr = np.asarray(x)
    return torch.as_tensor(arr, dtype=torch.float64 if arr.dtype.kind != "f" else None)


def _back(result: torch.Tensor, like):
    return result if isinstance(like, torch.Tensor) else result.detach().cpu().numpy()


def _batched(pred, gt, name: str):
    p, g = _torch(pred), _torch(gt).to(_torch(pred).dtype)
    check_shape(f"{name} pred", p, (..., None, 3))
    check_shape(f"{name} gt", g, tuple(p.shape))
    lead = p.shape[:-2]
    return p.reshape(-1, *p.shape[-2:]), g.reshape(-1, *g.shape[-2:]), lead


def joint_errors(pred, gt):
    """Euclidean distances per point: pred, gt (..., N, D) -> (..., N)."""
    p, g = _torch(pred), _torch(gt)
    return _back(torch.linalg.vector_norm(p - g.to(p.dtype), dim=-1), pred)


def mpjpe(pred, gt):
    """Mean per-joint position error.

    Args:
        pred, gt: (..., N, 3) e.g. metres.
    Returns:
        (...) mean over the N points (same unit).
    """
    p, g, lead = _batched(pred, gt, "mpjpe")
    return _back(torch.linalg.vector_norm(p - g, dim=-1).mean(-1).reshape(lead), pred)


def _pa_errors(pred, gt, name):
    p, g, lead = _batched(pred, gt, name)
    aligned = procrustes_align(p, g)
    return torch.linalg.vector_norm(aligned - g, dim=-1).mean(-1).reshape(lead)


def pa_mpjpe(pred, gt):
    """MPJPE after aligning each prediction to its ground truth by similarity Procrustes.

    Args:
        pred, gt: (..., J, 3) keypoints, e.g. metres.
    Returns:
        (...) aligned mean error (same unit).
    """
    return _back(_pa_errors(pred, gt, "pa_mpjpe"), pred)


def pa_mpvpe(pred, gt):
    """Mean per-vertex error after similarity Procrustes alignment on the vertices.

    Args:
        pred, gt: (..., V, 3) vertices (same topology), e.g. metres.
    Returns:
        (...) aligned mean vertex error (same unit).
    """
    return _back(_pa_errors(pred, gt, "pa_mpvpe"), pred)


def f_score(pred_verts, gt_verts, threshold: float, align: bool = True):
    """FreiHAND F-score: harmonic mean of precision and recall at a distance threshold.

    precision = share of predicted vertices whose nearest ground-truth vertex is within
    `threshold`, recall = share of ground-truth vertices whose nearest predicted vertex is
    within it; F = 2 P R / (P + R) (0 when both are 0). FreiHAND evaluates aligned meshes
    (similarity Procrustes on the vertices, `align=True`) at 5 mm and 15 mm.

    Args:
        pred_verts: (..., V, 3), e.g. metres.
        gt_verts: (..., V', 3) same unit (V' may differ from V when align=False).
        threshold: distance (same unit), e.g. 0.005.
    Returns:
        (...) F-score in [0, 1].
    """
    p, g = _torch(pred_verts), _torch(gt_verts).to(_torch(pred_verts).dtype)
    check_shape("f_score pred", p, (..., None, 3))
    check_shape("f_score gt", g, (..., None, 3))
    lead = p.shape[:-2]
    p, g = p.reshape(-1, *p.shape[-2:]), g.reshape(-1, *g.shape[-2:])
    if align:
        check_shape("f_score gt", g, tuple(p.shape))
        p = procrustes_align(p, g)
    d = torch.cdist(p, g)
    precision = (d.min(2).values <= threshold).to(p.dtype).mean(-1)
    recall = (d.min(1).values <= threshold).to(p.dtype).mean(-1)
    total = precision + recall
    f = torch.where(total > 0, 2 * precision * recall / total.clamp_min(1e-30), torch.zeros_like(total))
    return _back(f.reshape(lead), pred_verts)


def pck(errors, thresholds, visible=None):
    """Percentage of correct keypoints: share of errors <= each threshold.

    As in FreiHAND's evaluation, PCK is computed per keypoint over all samples (only where
    visible) and then averaged over keypoints.

    Args:
        errors: (M, J) per-keypoint errors (any unit), or (M,) for a single keypoint.
        thresholds: (T,) same unit.
        visible: (M, J) bool or None.
    Returns:
        (T,) fractions in [0, 1].
    """
    e = _torch(errors)
    e = e[:, None] if e.dim() == 1 else e.reshape(-1, e.shape[-1])
    thr = _torch(thresholds).to(e.dtype).to(e.device).reshape(-1)
    vis = torch.ones_like(e, dtype=torch.bool) if visible is None else _torch(visible).bool().reshape(e.shape).to(e.device)
    hit = (e[None] <= thr[:, None, None]) & vis[None]  # (T, M, J)
    count = vis.sum(0)  # (J,)
    per_kp = hit.sum(1).to(e.dtype) / count.clamp_min(1).to(e.dtype)  # (T, J)
    used = count > 0
    return _back(per_kp[:, used].mean(-1), errors)


def pck_3d(errors, thresholds, visible=None):
    """3D PCK; errors (M, J) e.g. metres, thresholds (T,) same unit -> (T,). See `pck`."""
    return pck(errors, thresholds, visible)


def pck_2d(pred_px, gt_px, thresholds_px, visible=None):
    """2D PCK from keypoints: pred_px, gt_px (M, J, 2) pixels, thresholds (T,) pixels -> (T,)."""
    p, g = _torch(pred_px), _torch(gt_px)
    check_shape("pck_2d pred_px", p, (..., None, 2))
    check_shape("pck_2d gt_px", g, tuple(p.shape))
    e = torch.linalg.vector_norm(p - g.to(p.dtype), dim=-1)
    return _back(_torch(pck(e, _torch(thresholds_px), visible)), pred_px)


def auc(errors, low: float = 0.0, high: float = 0.05, steps: int = 100, visible=None):
    """Area under the PCK curve on `steps` evenly spaced thresholds in [low, high]
    (FreiHAND: 0-50 mm, 100 steps), trapezoidal rule, divided by (high - low).

    Args:
        errors: (M, J) per-keypoint errors, e.g. metres (then low/high in metres).
    Returns:
        scalar in [0, 1] (0-dim tensor or numpy float).
    """
    e = _torch(errors)
    thr = torch.linspace(low, high, steps, dtype=e.dtype if e.dtype.is_floating_point else torch.float64,
                         device=e.device)
    curve = _torch(pck(e, thr, visible))
    area = torch.trapezoid(curve, thr) / (high - low)
    return _back(area, errors)


__all__ = ["auc", "f_score", "joint_errors", "mpjpe", "pa_mpjpe", "pa_mpvpe", "pck", "pck_2d", "pck_3d"]
