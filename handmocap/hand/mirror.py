"""Left/right mirroring: the one tested place where hands change side.

Mirroring is x -> -x in whatever frame the points live (camera: image x flips too).
A rotation R becomes M R M with M = diag(-1, 1, 1); for axis-angle (x, y, z) that is
(x, -y, -z). Right is canonical: a left hand is mirrored, run as a right hand, and mirrored
back with the same functions.
"""
from __future__ import annotations

import torch

_FLIP_AA = (1.0, -1.0, -1.0)


def mirror_points(points: torch.Tensor) -> torch.Tensor:
    """points: (..., 3) metres -> (..., 3) with x negated."""
    return points * points.new_tensor((-1.0, 1.0, 1.0))


def mirror_axis_angle(axis_angle: torch.Tensor) -> torch.Tensor:
    """axis_angle: (..., 3k) any number of concatenated rotations -> mirrored, same shape."""
    flip = axis_angle.new_tensor(_FLIP_AA).repeat(axis_angle.shape[-1] // 3)
    return axis_angle * flip


def mirror_keypoints_px(keypoints_px: torch.Tensor, width: float) -> torch.Tensor:
    """Image-space mirror. keypoints_px: (..., 2) pixel centres -> x' = width - 1 - x."""
    out = keypoints_px.clone()
    out[..., 0] = (width - 1) - keypoints_px[..., 0]
    return out


def mirror_principal_point(cx: float, width: float) -> float:
    """Principal point of the mirrored image (pixel-centre convention)."""
    return (width - 1) - cx
