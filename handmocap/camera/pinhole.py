"""Distortion-free pinhole camera: projection and unprojection with intrinsics K (torch).

K is the usual upper-triangular matrix [[fx, s, cx], [0, fy, cy], [0, 0, 1]] in pixels
(pixel-centre convention: the centre of the top-left pixel is (0, 0)). Points are in the
OpenCV camera frame (x right, y down, z forward), metres.

Broadcasting of K against points, for every function here:
    K (3, 3)                 with points (..., 3)          one camera for everything
    K (*B, 3, 3)             with points (*B, 3)            one point per camera
    K (*B, 3, 3)             with points (*B, N, 3)         N points per camera
"""
from __future__ import annotations

import torch

from ..errors import check_shape


def _k_parts(K: torch.Tensor, points: torch.Tensor):
    """fx, fy, cx, cy, skew of K, shaped to broadcast against points[..., 0]."""
    check_shape("K", K, (..., 3, 3))
    fx, fy = K[..., 0, 0], K[..., 1, 1]
    cx, cy, s = K[..., 0, 2], K[..., 1, 2], K[..., 0, 1]
    # K (*B, 3, 3) against points (*B, N, c): one more axis on the point side
    if K.dim() > 2 and points.dim() == K.dim():
        fx, fy, cx, cy, s = (v.unsqueeze(-1) for v in (fx, fy, cx, cy, s))
    return fx, fy, cx, cy, s


def intrinsics_matrix(fx, fy, cx, cy, skew=0.0, dtype=torch.float64, device=None) -> torch.Tensor:
    """K from scalars or (*B,) tensors -> (*B, 3, 3) pixels."""
    vals = [torch.as_tensor(v, dtype=dtype, device=device) for v in (fx, fy, cx, cy, skew)]
    fx, fy, cx, cy, skew = torch.broadcast_tensors(*vals)
    zero, one = torch.zeros_like(fx), torch.ones_like(fx)
    rows = [torch.stack([fx, skew, cx], -1), torch.stack([zero, fy, cy], -1), torch.stack([zero, zero, one], -1)]
    return torch.stack(rows, -2)


def project(points_cam: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Perspective projection of camera-space points to pixels.

    Args:
        points_cam: (..., 3) metres, camera frame; z must be > 0 (no clamping is done, so
            that gradients stay exact: points at z <= 0 give meaningless or infinite pixels).
        K: (3, 3) or (*B, 3, 3) intrinsics, see the module docstring for broadcasting.

    Returns:
        (..., 2) pixels.
    """
    check_shape("points_cam", points_cam, (..., 3))
    fx, fy, cx, cy, s = _k_parts(K, points_cam)
    x, y, z = points_cam.unbind(-1)
    xn, yn = x / z, y / z
    return torch.stack([fx * xn + s * yn + cx, fy * yn + cy], -1)


def pixels_to_normalized(points_px: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """Pixels -> normalised image coordinates (x/z, y/z) = first two entries of K^-1 [u, v, 1].

    Args:
        points_px: (..., 2) pixels.
        K: (3, 3) or (*B, 3, 3).

    Returns:
        (..., 2) dimensionless.
    """
    check_shape("points_px", points_px, (..., 2))
    fx, fy, cx, cy, s = _k_parts(K, points_px)
    u, v = points_px.unbind(-1)
    yn = (v - cy) / fy
    xn = (u - cx - s * yn) / fx
    return torch.stack([xn, yn], -1)


def unproject(points_px: torch.Tensor, K: torch.Tensor, depth: torch.Tensor | None = None) -> torch.Tensor:
    """Pixels -> camera-space rays (z = 1) or points at the given depth.

    Args:
        points_px: (..., 2) pixels.
        K: (3, 3) or (*B, 3, 3).
        depth: None for rays with z = 1, or (...) metres (z, not distance along the ray).

    Returns:
        (..., 3): rays (dimensionless, z = 1) or points in metres.
    """
    xy = pixels_to_normalized(points_px, K)
    rays = torch.cat([xy, torch.ones_like(xy[..., :1])], -1)
    if depth is None:
        return rays
    return rays * depth.unsqueeze(-1)


__all__ = ["intrinsics_matrix", "pixels_to_normalized", "project", "unproject"]
