"""Temporal filtering of hand tracks: the One-Euro filter (Casiez et al., CHI 2012) on arrays of
any shape, its rotation version on the manifold, and a zero-phase (forward-backward) variant
for offline use on whole videos.

One-Euro: an exponential smoother whose cutoff rises with speed,

    dx_t  = (x_t - x^_{t-1}) / dt          dx^_t = lowpass(dx_t; d_cutoff)
    fc_t  = min_cutoff + beta |dx^_t|       x^_t  = lowpass(x_t; fc_t)
    lowpass(x; fc): x^ = x^_{t-1} + alpha (x - x^_{t-1}),  alpha = 1 / (1 + 1 / (2 pi fc dt))

so a still hand is smoothed hard (min_cutoff, Hz) and a fast one follows with little lag
(beta, Hz per unit of speed). Rotations are filtered in the tangent space: the step from the
filtered rotation to the new one, log(q^_{t-1}^-1 q_t), is scaled by alpha and applied with
exp, so there are no wrap-around jumps (axis-angle near pi, quaternion sign flips).

Zero-phase (`zero_phase=True`): the causal filter runs forward, then backward over the forward
result (like scipy's filtfilt); the backward pass undoes the forward pass's lag. Measured with
`bench`-style synthetic signals in tests/track/test_filters.py and the tables in
`smooth_track`'s docstring.
"""
from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..errors import InputError, ShapeError

# Defaults chosen from measured still-jitter vs fast-lag numbers (see `smooth_track`).
MIN_CUTOFF_HZ = 1.0
BETA = 0.5
D_CUTOFF_HZ = 1.0
POSITION_UNIT_M = 0.1
# The finger joints get a 3x higher minimum cutoff than the wrist and translation: jitter comes
# mostly from the hand's placement, while smoothing the fingers as hard lags their shape
# (rendered clips: PA-MPJPE 7.36 -> 7.08 mm at equal jitter, 3.62 -> 3.63 mm/frame^2).
FINGER_CUTOFF_SCALE = 3.0


def _alpha(cutoff, dt):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


def _dts(timestamps, T: int, fps: float | None) -> np.ndarray:
    """(T-1,) positive time steps in seconds from timestamps (T,) or a frame rate."""
    if timestamps is None:
        if fps is None or not fps > 0:
            raise InputError(None, "filter: give timestamps_s or a positive fps")
        return np.full(max(T - 1, 0), 1.0 / fps)
    ts = np.asarray(timestamps, dtype=np.float64)
    if ts.shape != (T,):
        raise ShapeError("timestamps_s", f"({T},)", ts.shape)
    dt = np.diff(ts)
    if not np.all(np.isfinite(dt)) or np.any(dt <= 0):
        raise InputError(None, "filter: timestamps must be finite and strictly increasing")
    return dt


def _check_params(min_cutoff, beta, d_cutoff):
    if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0):
        raise InputError(None, f"One-Euro filter: need min_cutoff > 0, d_cutoff > 0, beta >= 0; "
                               f"got {min_cutoff}, {d_cutoff}, {beta}")


def _speed(dx: np.ndarray, speed_axes: int) -> np.ndarray:
    """|dx| per element (speed_axes=0) or the norm over the last `speed_axes` axes (broadcastable)."""
    if speed_axes == 0:
        return np.abs(dx)
    axes = tuple(range(dx.ndim - speed_axes, dx.ndim))
    return np.sqrt((dx * dx).sum(axis=axes, keepdims=True))


def _one_euro_causal(x, dt, min_cutoff, beta, d_cutoff, speed_axes):
    out = np.empty_like(x)
    out[0] = x[0]
    prev, dprev = x[0], np.zeros_like(x[0])
    for t in range(1, len(x)):
        dx = (x[t] - prev) / dt[t - 1]
        dprev = dprev + _alpha(d_cutoff, dt[t - 1]) * (dx - dprev)
        a = _alpha(min_cutoff + beta * _speed(dprev, speed_axes), dt[t - 1])
        prev = prev + a * (x[t] - prev)
        out[t] = prev
    return out


def one_euro(x, timestamps_s=None, *, fps: float | None = None, min_cutoff: float = MIN_CUTOFF_HZ,
             beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ, zero_phase: bool = False,
             speed_axes: int = 0) -> np.ndarray:
    """One-Euro filter along the first axis of an array of any shape (vectorised).

    Args:
        x: (T, ...) samples (any unit; beta is in Hz per unit/s).
        timestamps_s: (T,) seconds, strictly increasing; or None with `fps`.
        fps: frame rate when timestamps are not given.
        min_cutoff: Hz, cutoff at rest (lower = stiller when still).
        beta: Hz per (unit/s): how fast the cutoff rises with speed (higher = less lag).
        d_cutoff: Hz, cutoff of the speed estimate.
        zero_phase: forward then backward pass (offline, no lag).
        speed_axes: 0 = each element has its own speed; k = speed is the norm over the last
            k axes (e.g. 1 for (T, N, 3) points: isotropic in 3D).

    Returns:
        (T, ...) float64, filtered.
    """
    _check_params(min_cutoff, beta, d_cutoff)
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 1:
        raise ShapeError("x", "(T, ...)", x.shape)
    if len(x) == 0:
        return x.copy()
    dt = _dts(timestamps_s, len(x), fps)
    out = _one_euro_causal(x, dt, min_cutoff, beta, d_cutoff, speed_axes)
    if zero_phase:
        out = _one_euro_causal(out[::-1], dt[::-1], min_cutoff, beta, d_cutoff, speed_axes)[::-1].copy()
    return out


# ------------------------------------------------------------------ quaternions (numpy)
def _aa_to_quat(aa):
    angle = np.linalg.norm(aa, axis=-1, keepdims=True)
    half = 0.5 * angle
    # sin(a/2)/a with its Taylor series near 0
    k = np.where(angle < 1e-8, 0.5 - angle ** 2 / 48, np.sin(half) / np.where(angle < 1e-8, 1.0, angle))
    return np.concatenate([np.cos(half), aa * k], -1)


def _quat_to_aa(q):
    q = np.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = np.linalg.norm(xyz, axis=-1, keepdims=True)
    angle = 2 * np.arctan2(s, q[..., :1])
    scale = np.where(s < 1e-8, 2.0 / np.maximum(q[..., :1], 1e-12), angle / np.where(s < 1e-8, 1.0, s))
    return xyz * scale


def _quat_mul(a, b):
    aw, ax, ay, az = np.moveaxis(a, -1, 0)
    bw, bx, by, bz = np.moveaxis(b, -1, 0)
    return np.stack([aw * bw - ax * bx - ay * by - az * bz,
                     aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw], -1)


def _quat_conj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _rot_causal(q, dt, min_cutoff, beta, d_cutoff):
    out = np.empty_like(q)
    out[0] = prev = q[0]
    dprev = np.zeros(q.shape[1:-1] + (1,))
    for t in range(1, len(q)):
        step = _quat_to_aa(_quat_mul(_quat_conj(prev), q[t]))  # shortest way, body frame
        speed = np.linalg.norm(step, axis=-1, keepdims=True) / dt[t - 1]
        dprev = dprev + _alpha(d_cutoff, dt[t - 1]) * (speed - dprev)
        a = _alpha(min_cutoff + beta * dprev, dt[t - 1])
        prev = _quat_mul(prev, _aa_to_quat(a * step))
        prev = prev / np.linalg.norm(prev, axis=-1, keepdims=True)
        out[t] = prev
    return out


def one_euro_rotations(axis_angle, timestamps_s=None, *, fps: float | None = None,
                       min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ,
                       zero_phase: bool = False) -> np.ndarray:
    """One-Euro filter for rotations, in the tangent space (no wrap-around jumps).

    Args:
        axis_angle: (T, ..., 3) radians, e.g. (T, 3) global orientation or (T, 15, 3) joints.
        timestamps_s, fps, min_cutoff, d_cutoff, zero_phase: as for `one_euro`.
        beta: Hz per (rad/s) of angular speed.

    Returns:
        (T, ..., 3) float64 axis-angle, angles in [0, pi].
    """
    _check_params(min_cutoff, beta, d_cutoff)
    aa = np.asarray(axis_angle, dtype=np.float64)
    if aa.ndim < 2 or aa.shape[-1] != 3:
        raise ShapeError("axis_angle", "(T, ..., 3)", aa.shape)
    if len(aa) == 0:
        return aa.copy()
    dt = _dts(timestamps_s, len(aa), fps)
    q = _rot_causal(_aa_to_quat(aa), dt, min_cutoff, beta, d_cutoff)
    if zero_phase:
        q = _rot_causal(q[::-1].copy(), dt[::-1], min_cutoff, beta, d_cutoff)[::-1].copy()
    return _quat_to_aa(q)


def smooth_track(fit, timestamps_s, hand_model, K=None, *, min_cutoff: float = MIN_CUTOFF_HZ,
                 beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ, zero_phase: bool = True,
                 position_unit_m: float = POSITION_UNIT_M, finger_cutoff_scale: float = FINGER_CUTOFF_SCALE):
    """Filter a fitted track over time and recompute what depends on the filtered parameters.

    Rotations (global_orient, the 15 joints) are filtered on the manifold, each joint with its
    own angular speed (beta in Hz per rad/s); the translation with its 3D speed measured in
    `position_unit_m` per second (default 0.1 m, about a hand: so one beta suits both);
    betas are shared by the track and stay. keypoints_cam is recomputed from the filtered
    parameters; confidence and reprojection_px are the fit's (measured before filtering).

    Args:
        fit: a `solve.fitting.FitResult` (or anything with the same fields).
        timestamps_s: (T,) seconds.
        hand_model: the `HandModel` the fit used.
        K: unused (kept for the pipeline's call signature).
        min_cutoff, beta, d_cutoff: One-Euro parameters (see `one_euro`).
        zero_phase: forward-backward (offline) filtering; False = causal (live).
        position_unit_m: length unit in which translation speed enters beta.
        finger_cutoff_scale: the 15 finger joints use min_cutoff times this.

    Returns:
        A new result of the same type.
    """
    import torch

    from ..solve.fitting import KeypointLayer

    T = len(fit.global_orient)
    if T < 2:
        return fit
    kw = dict(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, zero_phase=zero_phase)
    go = one_euro_rotations(np.asarray(fit.global_orient), timestamps_s, **kw)
    pose = one_euro_rotations(np.asarray(fit.hand_pose).reshape(T, 15, 3), timestamps_s,
                              **{**kw, "min_cutoff": min_cutoff * finger_cutoff_scale}).reshape(T, 45)
    transl = one_euro(np.asarray(fit.transl) / position_unit_m, timestamps_s, speed_axes=1, **kw) * position_unit_m
    layer = KeypointLayer(hand_model, dtype=torch.float64)
    with torch.no_grad():
        from ..geometry.rotations import axis_angle_to_matrix

        kp = layer(axis_angle_to_matrix(torch.as_tensor(go)), torch.as_tensor(pose),
                   torch.as_tensor(np.asarray(fit.betas), dtype=torch.float64)).numpy()
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return replace(fit, global_orient=f32(go), hand_pose=f32(pose), transl=f32(transl),
                   keypoints_cam=f32(kp + transl[:, None]))


__all__ = ["BETA", "D_CUTOFF_HZ", "FINGER_CUTOFF_SCALE", "MIN_CUTOFF_HZ", "one_euro", "one_euro_rotations", "smooth_track"]
