"""Rectification to a canonical camera (HandDGP sec. 3.3) as a perspective crop.

HandDGP resizes the image so that its focal length becomes a canonical f_c and moves the
principal point to the centre of the hand crop. Moving the principal point alone is only
exact for a hand on the optical axis; for off-centre hands (video) we instead rotate a
virtual camera about the real camera centre so that it looks straight at the hand, and give
it intrinsics K_v = [[f_c, 0, (w-1)/2], [0, f_c, (h-1)/2], [0, 0, 1]] for a w x h crop.
A pure rotation about the centre is a homography of the image, H = K_v R K^-1, so the crop
is an exact re-imaging of the scene (no 3D distortion), and predictions made in the
virtual camera map back with R^T:

    p_virtual = R p_real            (3D points, translations; R is virtual-from-real)
    x_virtual ~ H x_real            (pixels)
    R_obj_real = R^T R_obj_virtual  (object orientations, e.g. global_orient)

The virtual camera keeps the real camera's "down" direction as well as it can (no roll):
its x axis is perpendicular to both its optical axis and the real y axis.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InputError, check_shape
from .pinhole import intrinsics_matrix, unproject


@dataclass
class Rectification:
    """A batch of virtual (canonical) cameras looking at hand centres.

    Attributes:
        R: (B, 3, 3) rotation, virtual-from-real (p_v = R p_real).
        K_virtual: (B, 3, 3) canonical intrinsics of the crop (pixels).
        K: (B, 3, 3) the real camera's intrinsics.
        crop_size: (width, height) of the crop in pixels.
    """

    R: torch.Tensor
    K_virtual: torch.Tensor
    K: torch.Tensor
    crop_size: tuple[int, int]

    def homography(self) -> torch.Tensor:
        """(B, 3, 3) real pixels -> virtual pixels, H = K_v R K^-1."""
        return self.K_virtual @ self.R @ torch.linalg.inv(self.K)

    def inverse_homography(self) -> torch.Tensor:
        """(B, 3, 3) virtual pixels -> real pixels, K R^T K_v^-1."""
        return self.K @ self.R.transpose(-1, -2) @ torch.linalg.inv(self.K_virtual)


def look_at_rotation(ray: torch.Tensor) -> torch.Tensor:
    """(B, 3) viewing directions (real camera frame) -> (B, 3, 3) virtual-from-real rotations
    whose optical axis is `ray` and whose x axis is horizontal in the real camera (no roll)."""
    z = ray / ray.norm(dim=-1, keepdim=True)
    down = torch.zeros_like(z)
    down[..., 1] = 1.0
    x = torch.cross(down, z, dim=-1)
    x = x / x.norm(dim=-1, keepdim=True)
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], -2)


def rectify_params(K: torch.Tensor, center_px: torch.Tensor, crop_size, canonical_focal: float) -> Rectification:
    """Virtual cameras that look at `center_px` with the canonical focal length.

    Args:
        K: (3, 3) or (B, 3, 3) real intrinsics (pixels).
        center_px: (B, 2) pixels: hand centres in the real image (e.g. keypoint bbox centre).
        crop_size: int or (width, height) of the rectified crop, pixels.
        canonical_focal: focal length of the virtual camera, pixels of the crop. Choose it so
            the hand fills the crop: f_c ~ crop_px * depth / hand_extent_m, or keep it fixed
            across a dataset (HandDGP) and adapt crop_size.

    Returns:
        `Rectification`; the hand centre maps to the crop centre ((w - 1) / 2, (h - 1) / 2).
    """
    check_shape("center_px", center_px, (None, 2))
    B = center_px.shape[0]
    if K.dim() == 2:
        check_shape("K", K, (3, 3))
        K = K.expand(B, 3, 3)
    check_shape("K", K, (B, 3, 3))
    w, h = (int(crop_size),) * 2 if np.ndim(crop_size) == 0 else tuple(int(v) for v in crop_size)
    if w <= 0 or h <= 0 or not float(canonical_focal) > 0:
        raise InputError(None, f"rectification: crop size and focal must be positive, got {crop_size}, {canonical_focal}")
    R = look_at_rotation(unproject(center_px, K))
    Kv = intrinsics_matrix(torch.full((B,), float(canonical_focal), dtype=K.dtype, device=K.device),
                           float(canonical_focal), (w - 1) / 2, (h - 1) / 2, dtype=K.dtype, device=K.device)
    return Rectification(R, Kv, K, (w, h))


def _apply_homography(H: torch.Tensor, points_px: torch.Tensor) -> torch.Tensor:
    """H (B, 3, 3) applied to (B, N, 2) or (B, 2) pixels."""
    single = points_px.dim() == 2
    pts = points_px[:, None] if single else points_px
    hom = torch.cat([pts, torch.ones_like(pts[..., :1])], -1) @ H.transpose(-1, -2)
    out = hom[..., :2] / hom[..., 2:]
    return out[:, 0] if single else out


def points_to_virtual(points_px: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Real-image pixels -> crop pixels. points_px: (B, N, 2) or (B, 2) pixels. Differentiable."""
    return _apply_homography(rect.homography(), points_px)


def points_from_virtual(points_px: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Crop pixels -> real-image pixels. points_px: (B, N, 2) or (B, 2) pixels. Differentiable."""
    return _apply_homography(rect.inverse_homography(), points_px)


def points3d_to_virtual(points: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Real-camera 3D points or directions (B, N, 3) or (B, 3), metres -> virtual camera frame."""
    if points.dim() == 2:
        return (rect.R @ points[..., None])[..., 0]
    return points @ rect.R.transpose(-1, -2)


def points3d_from_virtual(points: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Virtual-camera 3D points (B, N, 3) or (B, 3), metres -> real camera frame (R^T p)."""
    if points.dim() == 2:
        return (rect.R.transpose(-1, -2) @ points[..., None])[..., 0]
    return points @ rect.R


def translation_to_virtual(transl: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """(B, 3) metres, real camera -> virtual camera."""
    return points3d_to_virtual(transl, rect)


def translation_from_virtual(transl: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """(B, 3) metres, virtual camera -> real camera (the camera centre is shared, so only R^T)."""
    return points3d_from_virtual(transl, rect)


def rotation_to_virtual(rotation: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Object orientation (B, 3, 3) in the real camera -> virtual camera: R R_obj."""
    return rect.R @ rotation


def rotation_from_virtual(rotation: torch.Tensor, rect: Rectification) -> torch.Tensor:
    """Object orientation (B, 3, 3) in the virtual camera -> real camera: R^T R_obj.

    For an axis-angle `global_orient` (B, 3) use
    matrix_to_axis_angle(rotation_from_virtual(axis_angle_to_matrix(g), rect)).
    """
    return rect.R.transpose(-1, -2) @ rotation


def warp_image(image: np.ndarray, rect: Rectification, index: int = 0,
               interpolation: int | None = None, border_value=0) -> np.ndarray:
    """Render the crop of hand `index`: cv2.warpPerspective with H = K_v R K^-1.

    Args:
        image: (H, W) or (H, W, C) numpy image of the real camera.
        rect: `Rectification`.
        index: which item of the batch.
        interpolation: OpenCV flag (default bilinear).
        border_value: fill outside the real image.

    Returns:
        (h, w[, C]) crop, h, w = rect.crop_size[::-1].
    """
    import cv2

    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise InputError(None, f"warp_image: expected an (H, W[, C]) numpy image, got {type(image).__name__}")
    H = rect.homography()[index].detach().cpu().double().numpy()
    flags = cv2.INTER_LINEAR if interpolation is None else interpolation
    return cv2.warpPerspective(image, H, rect.crop_size, flags=flags,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=border_value)


__all__ = ["Rectification", "look_at_rotation", "points3d_from_virtual", "points3d_to_virtual",
           "points_from_virtual", "points_to_virtual", "rectify_params", "rotation_from_virtual",
           "rotation_to_virtual", "translation_from_virtual", "translation_to_virtual", "warp_image"]
