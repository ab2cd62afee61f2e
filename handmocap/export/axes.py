"""The one place where camera-space (OpenCV: x right, y down, z forward) becomes an
export frame. glTF is y-up with cameras looking down -z: p_gltf = diag(1, -1, -1) p_cv,
a 180-degree turn about x (its own inverse)."""
from __future__ import annotations

import numpy as np

CV_TO_GLTF = np.diag([1.0, -1.0, -1.0])
CV_TO_GLTF_QUAT_XYZW = (1.0, 0.0, 0.0, 0.0)  # the same turn as a glTF node rotation


def points_cv_to_gltf(points: np.ndarray) -> np.ndarray:
    """points: (..., 3) OpenCV camera frame -> (..., 3) glTF frame, metres."""
    return np.asarray(points) * np.array([1.0, -1.0, -1.0])
