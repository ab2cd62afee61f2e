"""Cameras: pinhole intrinsics, weak perspective, rectification, calibration.

    pinhole           project / unproject with K (torch, batched, differentiable)
    intrinsics        `Intrinsics` (fx, fy, cx, cy, size, distortion): from FOV, OpenCV-style
                      JSON/YAML files, save; `undistort_points`
    weak_perspective  Boukhayma's x = s Pi(R X) + t, closed-form fit, depth = f / s, and the
                      focal length assumed for unknown cameras (with its depth error)
    rectify           perspective crop to a canonical virtual camera (HandDGP sec. 3.3)
    calibrate         checkerboard video / image folder -> intrinsics (OpenCV)
"""
import importlib

from .calibrate import CalibrationResult, calibrate  # numpy only (the function, not the module)
from .intrinsics import Intrinsics, undistort_points

# submodule of each public name: imported on first use, so reading a calibration file
# does not pull in torch (seconds) and the command line answers a bad option at once
_SOURCES = {
    "pinhole": ("intrinsics_matrix", "pixels_to_normalized", "project", "unproject"),
    "rectify": ("Rectification", "points3d_from_virtual", "points3d_to_virtual", "points_from_virtual",
                "points_to_virtual", "rectify_params", "rotation_from_virtual", "rotation_to_virtual",
                "translation_from_virtual", "translation_to_virtual", "warp_image"),
    "weak_perspective": ("ASSUMED_FOV_DEG", "assumed_intrinsics", "depth_error_for_fov", "fit_weak_perspective",
                         "weak_perspective_project", "weak_perspective_to_translation"),
}
_MODULE_OF = {name: module for module, names in _SOURCES.items() for name in names}


def __getattr__(name: str):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f".{_MODULE_OF[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "ASSUMED_FOV_DEG", "CalibrationResult", "Intrinsics", "Rectification", "assumed_intrinsics", "calibrate",
    "depth_error_for_fov", "fit_weak_perspective", "intrinsics_matrix", "pixels_to_normalized",
    "points3d_from_virtual", "points3d_to_virtual", "points_from_virtual", "points_to_virtual", "project",
    "rectify_params", "rotation_from_virtual", "rotation_to_virtual", "translation_from_virtual",
    "translation_to_virtual", "undistort_points", "unproject", "warp_image", "weak_perspective_project",
    "weak_perspective_to_translation",
]
