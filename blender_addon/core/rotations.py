"""Rotation helpers in numpy (batched over leading axes). Quaternions are (w, x, y, z)."""
from __future__ import annotations

import numpy as np


def axis_angle_to_matrix(aa: np.ndarray) -> np.ndarray:
    """aa: (..., 3) radians -> (..., 3, 3) rotation matrices (Rodrigues)."""
    aa = np.asarray(aa, dtype=np.float64)
    theta = np.linalg.norm(aa, axis=-1, keepdims=True)
    axis = aa / np.where(theta < 1e-12, 1.0, theta)
    x, y, z = np.moveaxis(axis, -1, 0)
    zero = np.zeros_like(x)
    Kx = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*aa.shape[:-1], 3, 3)
    s, c = np.sin(theta)[..., None], np.cos(theta)[..., None]
    return np.eye(3) + s * Kx + (1 - c) * (Kx @ Kx)


def matrix_to_quaternion(R: np.ndarray) -> np.ndarray:
    """R: (..., 3, 3) -> (..., 4) unit quaternions (w, x, y, z) with w >= 0."""
    R = np.asarray(R, dtype=np.float64)
    m = R.reshape(-1, 3, 3)
    q = np.empty((len(m), 4))
    tr = np.trace(m, axis1=1, axis2=2)
    # pick the numerically largest component per matrix (Shepperd's method)
    diag = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], 1)
    k = diag.argmax(1)
    for i in range(len(m)):
        a = m[i]
        if k[i] == 0:
            s = 2 * np.sqrt(max(1 + tr[i], 1e-300))
            q[i] = (s / 4, (a[2, 1] - a[1, 2]) / s, (a[0, 2] - a[2, 0]) / s, (a[1, 0] - a[0, 1]) / s)
        elif k[i] == 1:
            s = 2 * np.sqrt(max(1 + a[0, 0] - a[1, 1] - a[2, 2], 1e-300))
            q[i] = ((a[2, 1] - a[1, 2]) / s, s / 4, (a[0, 1] + a[1, 0]) / s, (a[0, 2] + a[2, 0]) / s)
        elif k[i] == 2:
            s = 2 * np.sqrt(max(1 + a[1, 1] - a[0, 0] - a[2, 2], 1e-300))
            q[i] = ((a[0, 2] - a[2, 0]) / s, (a[0, 1] + a[1, 0]) / s, s / 4, (a[1, 2] + a[2, 1]) / s)
        else:
            s = 2 * np.sqrt(max(1 + a[2, 2] - a[0, 0] - a[1, 1], 1e-300))
            q[i] = ((a[1, 0] - a[0, 1]) / s, (a[0, 2] + a[2, 0]) / s, (a[1, 2] + a[2, 1]) / s, s / 4)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q.reshape(*R.shape[:-2], 4)


def quaternion_to_matrix(q: np.ndarray) -> np.ndarray:
    """q: (..., 4) (w, x, y, z) -> (..., 3, 3)."""
    q = np.asarray(q, dtype=np.float64)
    q = q / np.linalg.norm(q, axis=-1, keepdims=True)
    w, x, y, z = np.moveaxis(q, -1, 0)
    return np.stack([
        1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y),
        2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x),
        2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y),
    ], -1).reshape(*q.shape[:-1], 3, 3)


def continuous_quaternions(q: np.ndarray) -> np.ndarray:
    """q: (T, ..., 4) -> same, sign-flipped where needed so consecutive frames stay on one
    hemisphere (keyframe interpolation then takes the short way)."""
    q = np.array(q, dtype=np.float64)
    for t in range(1, len(q)):
        flip = np.sum(q[t] * q[t - 1], axis=-1, keepdims=True) < 0
        q[t] = np.where(flip, -q[t], q[t])
    return q


def rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3, 3) taking unit vector a (3,) onto unit vector b (3,)."""
    a = a / np.linalg.norm(a)
    b = b / np.linalg.norm(b)
    v = np.cross(a, b)
    c = float(np.dot(a, b))
    if c < -1 + 1e-9:  # opposite: turn half way round any perpendicular axis
        p = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        return axis_angle_to_matrix(np.pi * p / np.linalg.norm(p))
    K = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + K + K @ K / (1 + c)


def frame_from_yz(y: np.ndarray, z_hint: np.ndarray) -> np.ndarray:
    """Orthonormal frame (3, 3), columns X, Y, Z: Y along `y`, Z as close to `z_hint` as
    possible, X = Y x Z (right-handed)."""
    y = y / np.linalg.norm(y)
    z = z_hint - np.dot(z_hint, y) * y
    z = z / np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], 1)
