"""Weak-perspective camera (Boukhayma et al. 2019, eq. 3-4) for footage with unknown intrinsics.

    x = s * Pi(R X) + t        Pi(x, y, z) = (x, y)   (orthographic drop of z)

with s in pixels per metre and t in pixels (here in full-image pixels, not crop units).
It is perspective projection with every point at the same depth: for a hand at depth z seen
with focal length f, s = f / z. Converting back to a camera-space translation therefore needs
a focal length: depth = f / s.

Assumed focal length when none is known (`assumed_intrinsics`): a 60 degree field of view
across the larger image side, f = 0.5 * max(W, H) / tan(30 deg) = 0.866 * max(W, H), principal
point at the image centre. 60 degrees sits in the middle of ordinary webcams and phone main
cameras (about 55-70 degrees across the long side).

How wrong the depth is: depth = f / s, so the translation (all of tx, ty, tz) is scaled by
f_assumed / f_true = tan(fov_true / 2) / tan(fov_assumed / 2); the relative depth error is
f_assumed / f_true - 1 (`depth_error_for_fov`). For a camera whose true field of view across
the larger side is:

    true fov (deg)   35    40    45    50    55    60    65    70    75    80    90   100
    depth error     -45%  -37%  -28%  -19%  -10%   0%  +10%  +21%  +33%  +45%  +73% +106%

(negative: hands placed too close). At 0.5 m that is -23 cm to +53 cm: give the real focal
length (`--fov`, `--fx` or a calibration file) whenever metric depth matters. The
weak-perspective approximation itself adds an error of order (hand depth range / depth),
a few percent for a hand at arm's length.
"""
from __future__ import annotations

import math

import torch

from ..errors import InputError, check_shape
from .intrinsics import Intrinsics

ASSUMED_FOV_DEG = 60.0


def assumed_intrinsics(width: int, height: int, fov_deg: float = ASSUMED_FOV_DEG) -> Intrinsics:
    """Intrinsics assumed for footage with unknown camera: `fov_deg` across the larger side."""
    return Intrinsics.from_fov(fov_deg, width, height, axis="max")


def depth_error_for_fov(true_fov_deg: float, assumed_fov_deg: float = ASSUMED_FOV_DEG) -> float:
    """Relative depth error f_assumed / f_true - 1 when the true field of view (same image side)
    is `true_fov_deg` and `assumed_fov_deg` was assumed."""
    return math.tan(math.radians(true_fov_deg) / 2) / math.tan(math.radians(assumed_fov_deg) / 2) - 1


def weak_perspective_project(points: torch.Tensor, scale: torch.Tensor, offset_px: torch.Tensor,
                             rotation: torch.Tensor | None = None) -> torch.Tensor:
    """x = s * Pi(R X) + t (Boukhayma eq. 3-4).

    Args:
        points: (B, N, 3) metres (model or root-relative frame).
        scale: (B,) pixels per metre.
        offset_px: (B, 2) pixels: where the points' origin lands in the image.
        rotation: (B, 3, 3) or None (identity: points already camera-aligned).

    Returns:
        (B, N, 2) pixels.
    """
    check_shape("points", points, (None, None, 3))
    if rotation is not None:
        points = points @ rotation.transpose(-1, -2)
    return scale[:, None, None] * points[..., :2] + offset_px[:, None, :]


def fit_weak_perspective(keypoints_px: torch.Tensor, points: torch.Tensor,
                         weights: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Closed-form weighted least-squares (s, t) of sum_i w_i |s Pi(X_i) + t - x_i|^2.

    With weighted means p_bar, x_bar of Pi(X_i), x_i:
        s = sum w (p - p_bar).(x - x_bar) / sum w |p - p_bar|^2,   t = x_bar - s p_bar.
    Differentiable; zero-weight keypoints have no influence.

    Args:
        keypoints_px: (B, N, 2) pixels.
        points: (B, N, 3) metres, camera-aligned (rotate them first if needed).
        weights: (B, N) >= 0 or None.

    Returns:
        scale (B,) pixels per metre, offset_px (B, 2) pixels.

    Raises:
        InputError: a hand with fewer than two weighted keypoints at distinct x, y.
    """
    check_shape("keypoints_px", keypoints_px, (None, None, 2))
    check_shape("points", points, (keypoints_px.shape[0], keypoints_px.shape[1], 3))
    if weights is None:
        weights = torch.ones(keypoints_px.shape[:2], dtype=keypoints_px.dtype, device=keypoints_px.device)
    check_shape("weights", weights, tuple(keypoints_px.shape[:2]))
    wsum = weights.sum(-1, keepdim=True)
    p = points[..., :2]
    p_bar = (weights[..., None] * p).sum(1) / wsum
    x_bar = (weights[..., None] * keypoints_px).sum(1) / wsum
    dp = p - p_bar[:, None]
    dx = keypoints_px - x_bar[:, None]
    den = (weights * (dp * dp).sum(-1)).sum(-1)
    if not bool((den > 0).all()) or not bool(torch.isfinite(den).all()):
        raise InputError(None, "weak-perspective fit: a hand has fewer than two weighted keypoints "
                               "with distinct x, y (or non-finite values)")
    scale = (weights * (dp * dx).sum(-1)).sum(-1) / den
    return scale, x_bar - scale[:, None] * p_bar


def weak_perspective_to_translation(scale: torch.Tensor, offset_px: torch.Tensor,
                                    K: torch.Tensor) -> torch.Tensor:
    """Camera-space translation of the points' origin from a weak-perspective (s, t).

    depth = f / s with f = sqrt(fx fy); the origin lands on pixel t, so
    (tx, ty) = depth * K^-1 (t, 1). Pass `assumed_intrinsics(W, H).K()` when the camera is
    unknown (see the module docstring for the resulting depth error).

    Args:
        scale: (B,) pixels per metre, > 0.
        offset_px: (B, 2) pixels.
        K: (3, 3) or (B, 3, 3).

    Returns:
        (B, 3) metres.
    """
    from .pinhole import unproject

    f = torch.sqrt(K[..., 0, 0] * K[..., 1, 1])
    depth = f / scale
    return unproject(offset_px, K, depth)


def translation_to_weak_perspective(transl: torch.Tensor, K: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Inverse of `weak_perspective_to_translation`: (B, 3) metres -> scale (B,), offset_px (B, 2)."""
    from .pinhole import project

    f = torch.sqrt(K[..., 0, 0] * K[..., 1, 1])
    return f / transl[:, 2], project(transl, K)


__all__ = ["ASSUMED_FOV_DEG", "assumed_intrinsics", "depth_error_for_fov", "fit_weak_perspective",
           "translation_to_weak_perspective", "weak_perspective_project", "weak_perspective_to_translation"]
