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
import warnings
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
# The streamed (fixed-lag) zero-phase filter: the backward pass of each block of
# SMOOTH_BLOCK_FRAMES starts SMOOTH_LAG_FRAMES after the block, whose start-up transient has
# decayed to (1 - alpha)^lag by then (alpha = 0.17 at 1 Hz and 30 fps: 6%, of a difference
# that is small already; see `FixedLagSmoother`). Rendered clips, mean CS-MJE / PA-MPJPE /
# jitter: 27.97 / 7.077 mm / 3.631 mm/frame^2 with lag 15, 30 or the whole track; 27.98 /
# 7.077 / 3.629 with lag 8. Outputs lag the detector by at most block + lag frames.
SMOOTH_BLOCK_FRAMES = 15
SMOOTH_LAG_FRAMES = 15
# The translation is filtered as (x/z, y/z, log z), not x, y, z: the ray to the wrist comes from
# the 2D keypoints and is precise, the depth comes from the hand's apparent size and is not (on
# rendered people, DGP's per-frame depth scatters by centimetres). In metric x, y, z one cutoff
# served both, and the depth's noise, read as speed, held the filter open. The ray keeps the cutoffs
# of the rotations; log-depth gets DEPTH_CUTOFF_SCALE times them. Both are scaled by
# DEPTH_REF_M, so near 0.5 m a unit of each is about a metric unit (beta keeps its meaning).
# DEPTH_SPEED_WEIGHT: how much the depth's own (noisy) speed opens the filter (beta). At 1,
# depth noise read as speed left the translation barely smoothed (a people TRAIN clip: wrist
# jitter 21 mm/frame^2, the GT's 3); at 0 a real approach lags (0.8 -> 0.4 m in a second: 43 mm
# behind at worst, 16 mm at 0.3). Chosen on the people set's TRAIN clips and the project's own
# clips (means of 4 / 3 clips), from weight 1 and scale 1 to 0.3 and 0.25: people CS-MJE 85.0
# -> 83.8 mm, jitter 19.9 -> 17.5 mm/frame^2; own clips CS-MJE 21.25 -> 21.15 mm, acceleration
# error 3.68 -> 3.42; PA-MPJPE unchanged. (Weight 0: 83.3 / 17.3 / 21.19.)
DEPTH_REF_M = 0.5
DEPTH_CUTOFF_SCALE = 0.25
DEPTH_SPEED_WEIGHT = 0.3
# The hand's orientation gets beta times this: its noise, read as angular speed, held the filter
# open (a people TRAIN clip seen from the eyes: palm keypoints' jitter 11 mm/frame^2 around the
# wrist, the GT's 1.3). Chosen like the depth constants (with them), from 1 to 0.2: people
# jitter 17.5 -> 13.8 mm/frame^2, CS-MJE 83.8 -> 84.1 mm; own clips CS-MJE 21.15 -> 21.06 mm,
# acceleration error 3.42 -> 2.49 mm/frame^2; PA-MPJPE unchanged (0.1: 13.0 / 84.4 / 21.06).
ORIENT_BETA_SCALE = 0.2
# The speed that opens the filter (beta) is the speed above the signal's own noise. A signal's
# noise level is the median size of its third difference (NOISE_DIFF_ORDER) over the last
# NOISE_WINDOW_FRAMES frames: white noise of size s gives third differences of about 4.5 s, a
# smooth swing of amplitude A at f Hz about A (2 pi f / fps)^3 (0.009 A at 1 Hz and 30 fps;
# second differences, 0.04 A, let fast swings pass for noise). NOISE_FLOOR_SCALE times that
# level per second is taken off the speed before beta (rotations: off each joint's angular speed; translation:
# off each of ray x, ray y and log-depth, so the depth's noise does not hold back the precise
# ray). 0.2 is about twice the speed that noise alone gives the filter. Chosen on the people
# set's TRAIN clips (10: three variants of both_hands, fast_motion, right_hand and the
# original left_hand) and the project's own clips, `python -m training.tune_smoothing
# noise_floor_scale=0 noise_floor_scale=0.2 ...`: people jitter 15.76 -> 14.57 mm/frame^2
# (GT 20.99), CS-MJE 75.23 -> 75.56 mm, PA-MPJPE 13.92 -> 13.91; own clips CS-MJE 21.06 ->
# 21.01 mm, PA-MPJPE 6.82, acceleration error 2.49 -> 2.44. Higher floors trade more: 1.0 cut
# people jitter to 10.8 but cost the fastest clip 20 mm of CS-MJE (lag): a noisy track's
# speed term then never opens. `--noise-floor` sets it per run (0: plain One-Euro).
NOISE_WINDOW_FRAMES = 15
NOISE_FLOOR_SCALE = 0.2
NOISE_DIFF_ORDER = 3  # differences of the samples whose size is the noise level


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


def _check_params(min_cutoff, beta, d_cutoff, noise_floor_scale=0.0):
    if not (min_cutoff > 0 and d_cutoff > 0 and beta >= 0 and noise_floor_scale >= 0):
        raise InputError(None, f"One-Euro filter: need min_cutoff > 0, d_cutoff > 0, beta >= 0, "
                               f"noise_floor_scale >= 0; got {min_cutoff}, {d_cutoff}, {beta}, {noise_floor_scale}")


def _speed(dx: np.ndarray, speed_axes: int) -> np.ndarray:
    """|dx| per element (speed_axes=0) or the norm over the last `speed_axes` axes (broadcastable)."""
    if speed_axes == 0:
        return np.abs(dx)
    axes = tuple(range(dx.ndim - speed_axes, dx.ndim))
    return np.sqrt((dx * dx).sum(axis=axes, keepdims=True))


def _one_euro_causal(x, dt, min_cutoff, beta, d_cutoff, speed_axes, state=None, speed_weights=None,
                     speed_floor=None):
    """Causal One-Euro over x (n, ...). dt: (n-1,) steps between the samples, or (n,) with
    `state` (dt[0]: the step from the state's sample to x[0]). state: (prev, dprev) of an
    earlier call, so a signal filtered in pieces equals it filtered at once. speed_weights:
    (d,) weights of the last axis's components in the speed (speed_axes=1 only; None: all 1).
    speed_floor: (n, ...) per sample and component, taken off each component's (weighted)
    speed before they make the speed beta reads (`_NoiseFloor`; None: 0).
    Returns (out (n, ...), state)."""
    out = np.empty_like(x)
    if state is None:
        out[0] = x[0]
        prev, dprev, start, dt = x[0], np.zeros_like(x[0]), 1, np.concatenate([[0.0], dt])
    else:
        (prev, dprev), start = state, 0
    for t in range(start, len(x)):
        dx = (x[t] - prev) / dt[t]
        dprev = dprev + _alpha(d_cutoff, dt[t]) * (dx - dprev)
        v = dprev if speed_weights is None else dprev * speed_weights
        if speed_floor is not None:  # each component's speed above its noise
            v = np.maximum(np.abs(v) - speed_floor[t], 0.0)
        a = _alpha(min_cutoff + beta * _speed(v, speed_axes), dt[t])
        prev = prev + a * (x[t] - prev)
        out[t] = prev
    return out, (prev, dprev)


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
    out, _ = _one_euro_causal(x, dt, min_cutoff, beta, d_cutoff, speed_axes)
    if zero_phase:
        out = _one_euro_causal(out[::-1], dt[::-1], min_cutoff, beta, d_cutoff, speed_axes)[0][::-1].copy()
    return out


# ------------------------------------------------------------------ quaternions (numpy)
def _aa_to_quat(aa):
    angle = _norm(aa)
    half = 0.5 * angle
    # sin(a/2)/a with its Taylor series near 0
    k = np.where(angle < 1e-8, 0.5 - angle ** 2 / 48, np.sin(half) / np.where(angle < 1e-8, 1.0, angle))
    return np.concatenate([np.cos(half), aa * k], -1)


def _quat_to_aa(q):
    q = np.where(q[..., :1] < 0, -q, q)
    xyz = q[..., 1:]
    s = _norm(xyz)
    angle = 2 * np.arctan2(s, q[..., :1])
    scale = np.where(s < 1e-8, 2.0 / np.maximum(q[..., :1], 1e-12), angle / np.where(s < 1e-8, 1.0, s))
    return xyz * scale


def _norm(x):
    """(..., 1) Euclidean norms over the last axis (np.linalg.norm's sum, without its checks:
    the filters call it per frame on tiny arrays)."""
    return np.sqrt(np.add.reduce(x * x, axis=-1, keepdims=True))


def _quat_mul(a, b):
    aw, ax, ay, az = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bw, bx, by, bz = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    out = np.empty(np.broadcast_shapes(a.shape, b.shape), dtype=np.result_type(a, b))
    out[..., 0] = aw * bw - ax * bx - ay * by - az * bz
    out[..., 1] = aw * bx + ax * bw + ay * bz - az * by
    out[..., 2] = aw * by - ax * bz + ay * bw + az * bx
    out[..., 3] = aw * bz + ax * by - ay * bx + az * bw
    return out


def _quat_conj(q):
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _ray_depth(transl: np.ndarray, unit: float) -> np.ndarray:
    """transl (n, 3) metres -> (n, 3) (x/z, y/z, log z) * DEPTH_REF_M / unit (see DEPTH_REF_M)."""
    z = np.maximum(transl[:, 2:], 1e-3)  # a hand is in front of the camera
    return np.concatenate([transl[:, :2] / z, np.log(z)], 1) * (DEPTH_REF_M / unit)


def _from_ray_depth(p: np.ndarray, unit: float) -> np.ndarray:
    """Inverse of `_ray_depth`: (n, 3) -> metres."""
    p = p * (unit / DEPTH_REF_M)
    z = np.exp(p[:, 2:])
    return np.concatenate([p[:, :2] * z, z], 1)


def _translation_cutoffs(min_cutoff: float, depth_cutoff_scale: float) -> np.ndarray:
    """(3,) per-axis minimum cutoffs of `_ray_depth`'s coordinates (Hz)."""
    return np.array([min_cutoff, min_cutoff, min_cutoff * depth_cutoff_scale])


def _translation_speed_weights(depth_speed_weight: float) -> np.ndarray:
    """(3,) weights of `_ray_depth`'s coordinates in the filter's speed."""
    return np.array([1.0, 1.0, depth_speed_weight])


def _rot_causal(q, dt, min_cutoff, beta, d_cutoff, state=None, speed_floor=None):
    """Causal One-Euro on unit quaternions q (n, ..., 4); dt, state and speed_floor ((n, ..., 1)
    rad/s) as in `_one_euro_causal`. Returns (out (n, ..., 4), state)."""
    out = np.empty_like(q)
    if state is None:
        out[0] = prev = q[0]
        dprev, start, dt = np.zeros(q.shape[1:-1] + (1,)), 1, np.concatenate([[0.0], dt])
    else:
        (prev, dprev), start = state, 0
    for t in range(start, len(q)):
        step = _quat_to_aa(_quat_mul(_quat_conj(prev), q[t]))  # shortest way, body frame
        speed = _norm(step) / dt[t]
        dprev = dprev + _alpha(d_cutoff, dt[t]) * (speed - dprev)
        a = _alpha(min_cutoff + beta * (dprev if speed_floor is None else np.maximum(dprev - speed_floor[t], 0.0)),
                   dt[t])
        prev = _quat_mul(prev, _aa_to_quat(a * step))
        prev = prev / _norm(prev)
        out[t] = prev
    return out, (prev, dprev)


class _NoiseFloor:
    """One signal's speed floor per sample (see NOISE_FLOOR_SCALE): `scale` times the median
    size of its NOISE_DIFF_ORDER-th difference over the last `window` samples, per second.
    Fed the raw samples a piece at a time; the floors do not depend on how the signal is cut.

    rotation: samples are unit quaternions (..., 4), steps their body-frame rotation vectors,
    and one floor goes with each rotation's angular speed; else samples are vectors (..., d),
    steps their differences times `weights`, and each component gets its own floor (the
    depth's noise must not hold back the ray's speed)."""

    def __init__(self, scale: float, window: int, rotation: bool, weights=None):
        self.scale, self.window, self.rotation, self.weights = float(scale), int(window), rotation, weights
        self._last = None  # the last raw sample
        self._steps = None  # the last NOISE_DIFF_ORDER - 1 steps
        self._sizes = None  # difference sizes of the last window - 1 samples (NaN: none)

    def __call__(self, x: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """x: (n, ..., 4 or d) samples; dt: (n,) seconds since each one's predecessor (any
        value for a track's first sample). Returns (n, ..., 1) speed floors for rotations,
        (n, ..., d) for vectors (0 where the window holds no difference yet)."""
        seq = x if self._last is None else np.concatenate([self._last[None], x])
        if self.rotation:
            steps = _quat_to_aa(_quat_mul(_quat_conj(seq[:-1]), seq[1:]))
        else:
            steps = (seq[1:] - seq[:-1]) * (1.0 if self.weights is None else self.weights)
        if self._steps is not None:
            steps = np.concatenate([self._steps, steps])
        diffs = np.diff(steps, n=NOISE_DIFF_ORDER - 1, axis=0)
        diffs = _norm(diffs) if self.rotation else np.abs(diffs)
        sizes = np.full((len(x),) + diffs.shape[1:], np.nan)  # a track's first samples have none
        if len(diffs):
            sizes[len(x) - len(diffs):] = diffs
        old = self._sizes if self._sizes is not None else np.full((self.window - 1,) + sizes.shape[1:], np.nan)
        seen = np.concatenate([old, sizes])
        windows = np.lib.stride_tricks.sliding_window_view(seen, self.window, axis=0)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows at a track's start
            level = np.nan_to_num(np.nanmedian(windows, axis=-1), nan=0.0)
        self._last, self._sizes = x[-1], seen[-(self.window - 1):] if self.window > 1 else seen[:0]
        if len(steps):
            self._steps = steps[-(NOISE_DIFF_ORDER - 1):]
        dt = np.asarray(dt, dtype=np.float64).reshape((-1,) + (1,) * (level.ndim - 1))
        return self.scale * level / np.maximum(dt, 1e-9)


def _floors(x: np.ndarray, dt: np.ndarray, scale: float, rotation: bool, weights=None):
    """The speed floors (`_NoiseFloor`) of a whole signal x (T, ..., 4 or d) with steps dt
    (T-1,), or None when scale is 0."""
    if scale == 0:
        return None
    return _NoiseFloor(scale, NOISE_WINDOW_FRAMES, rotation, weights)(x, np.concatenate([[1.0], dt]))


def one_euro_rotations(axis_angle, timestamps_s=None, *, fps: float | None = None,
                       min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ,
                       zero_phase: bool = False, noise_floor_scale: float = NOISE_FLOOR_SCALE) -> np.ndarray:
    """One-Euro filter for rotations, in the tangent space (no wrap-around jumps).

    Args:
        axis_angle: (T, ..., 3) radians, e.g. (T, 3) global orientation or (T, 15, 3) joints.
        timestamps_s, fps, min_cutoff, d_cutoff, zero_phase: as for `one_euro`.
        beta: Hz per (rad/s) of angular speed.
        noise_floor_scale: the angular speed counts above this times the rotations' own
            noise level (NOISE_FLOOR_SCALE; 0: plain One-Euro).

    Returns:
        (T, ..., 3) float64 axis-angle, angles in [0, pi].
    """
    _check_params(min_cutoff, beta, d_cutoff, noise_floor_scale)
    aa = np.asarray(axis_angle, dtype=np.float64)
    if aa.ndim < 2 or aa.shape[-1] != 3:
        raise ShapeError("axis_angle", "(T, ..., 3)", aa.shape)
    if len(aa) == 0:
        return aa.copy()
    dt = _dts(timestamps_s, len(aa), fps)
    q = _aa_to_quat(aa)
    floor = _floors(q, dt, noise_floor_scale, rotation=True)
    q, _ = _rot_causal(q, dt, min_cutoff, beta, d_cutoff, speed_floor=floor)
    if zero_phase:
        q = _rot_causal(q[::-1].copy(), dt[::-1], min_cutoff, beta, d_cutoff,
                        speed_floor=None if floor is None else floor[::-1])[0][::-1].copy()
    return _quat_to_aa(q)


def one_euro_translation(transl, timestamps_s, *, min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA,
                         d_cutoff: float = D_CUTOFF_HZ, zero_phase: bool = False,
                         position_unit_m: float = POSITION_UNIT_M,
                         depth_cutoff_scale: float = DEPTH_CUTOFF_SCALE,
                         depth_speed_weight: float = DEPTH_SPEED_WEIGHT,
                         noise_floor_scale: float = NOISE_FLOOR_SCALE) -> np.ndarray:
    """One-Euro filter of a camera-space translation as ray and log-depth (see DEPTH_REF_M).

    Args:
        transl: (T, 3) metres, z > 0.  timestamps_s: (T,) seconds.
        min_cutoff, beta, d_cutoff, zero_phase: as for `one_euro`; speed in position_unit_m/s.
        depth_cutoff_scale: the log-depth's minimum cutoff is min_cutoff times this.
        depth_speed_weight: weight of the log-depth's speed in the filter's speed (see
            DEPTH_SPEED_WEIGHT).
        noise_floor_scale: as for `one_euro_rotations`.

    Returns:
        (T, 3) float64 metres.
    """
    _check_params(min_cutoff, beta, d_cutoff, noise_floor_scale)
    transl = np.asarray(transl, dtype=np.float64)
    if transl.ndim != 2 or transl.shape[1] != 3:
        raise ShapeError("transl", "(T, 3)", transl.shape)
    if len(transl) < 2:
        return transl.copy()
    dt = _dts(timestamps_s, len(transl), None)
    cutoffs = _translation_cutoffs(min_cutoff, depth_cutoff_scale)
    w = _translation_speed_weights(depth_speed_weight)
    ray = _ray_depth(transl, position_unit_m)
    floor = _floors(ray, dt, noise_floor_scale, rotation=False, weights=w)
    ray = _one_euro_causal(ray, dt, cutoffs, beta, d_cutoff, 1, speed_weights=w, speed_floor=floor)[0]
    if zero_phase:
        ray = _one_euro_causal(ray[::-1].copy(), dt[::-1], cutoffs, beta, d_cutoff, 1, speed_weights=w,
                               speed_floor=None if floor is None else floor[::-1])[0][::-1]
    return _from_ray_depth(ray, position_unit_m)


def smooth_track(fit, timestamps_s, hand_model, K=None, *, min_cutoff: float = MIN_CUTOFF_HZ,
                 beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ, zero_phase: bool = True,
                 position_unit_m: float = POSITION_UNIT_M, finger_cutoff_scale: float = FINGER_CUTOFF_SCALE,
                 depth_cutoff_scale: float = DEPTH_CUTOFF_SCALE, depth_speed_weight: float = DEPTH_SPEED_WEIGHT,
                 orient_beta_scale: float = ORIENT_BETA_SCALE, noise_floor_scale: float = NOISE_FLOOR_SCALE):
    """Filter a fitted track over time and recompute what depends on the filtered parameters.

    Rotations (global_orient, the 15 joints) are filtered on the manifold, each joint with its
    own angular speed (beta in Hz per rad/s); the translation as ray and log-depth
    (`DEPTH_REF_M`), its speed measured in `position_unit_m` per second (default 0.1 m, about
    a hand: so one beta suits both), the depth with depth_cutoff_scale times the cutoff;
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
        depth_cutoff_scale: the translation's log-depth uses min_cutoff times this.
        depth_speed_weight: see `one_euro_translation`.
        orient_beta_scale: global_orient uses beta times this.
        noise_floor_scale: each signal's speed counts above this times its noise level
            (NOISE_FLOOR_SCALE; 0: plain One-Euro).

    Returns:
        A new result of the same type.
    """
    import torch

    from ..solve.fitting import KeypointLayer

    T = len(fit.global_orient)
    if T < 2:
        return fit
    _dts(timestamps_s, T, None)  # checks the timestamps' shape and order
    # the whole track as one block: the fixed-lag smoother's result is then the whole-track
    # filter, so the offline and the streamed tracker share one implementation
    smoother = FixedLagSmoother(min_cutoff=min_cutoff, beta=beta, d_cutoff=d_cutoff, position_unit_m=position_unit_m,
                                finger_cutoff_scale=finger_cutoff_scale, depth_cutoff_scale=depth_cutoff_scale,
                                depth_speed_weight=depth_speed_weight, orient_beta_scale=orient_beta_scale,
                                noise_floor_scale=noise_floor_scale, block=T, lag=0, zero_phase=zero_phase)
    smoother.push(np.asarray(fit.global_orient), np.asarray(fit.hand_pose), np.asarray(fit.transl), timestamps_s)
    go, pose, transl = smoother.pop(final=True)
    layer = KeypointLayer(hand_model, dtype=torch.float64)
    with torch.no_grad():
        from ..geometry.rotations import axis_angle_to_matrix

        kp = layer(axis_angle_to_matrix(torch.as_tensor(go)), torch.as_tensor(pose),
                   torch.as_tensor(np.asarray(fit.betas), dtype=torch.float64)).numpy()
    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    return replace(fit, global_orient=f32(go), hand_pose=f32(pose), transl=f32(transl),
                   keypoints_cam=f32(kp + transl[:, None]))


class FixedLagSmoother:
    """`smooth_track`'s zero-phase filter of one track, fed a piece at a time, with a bounded
    look-ahead: frame t's output depends on frames <= t + block + lag only.

    The forward (causal) pass runs as frames arrive. The backward pass runs per block of
    `block` frames, from `lag` frames after the block's end (or from the track's end) back to
    the block's start, starting from the forward result there as a whole-track backward pass
    starts from the last frame. A track of at most block + lag frames gets exactly
    `smooth_track`'s whole-track result; longer ones differ by the backward pass's start-up
    transient, decayed by (1 - alpha)^lag.

        smoother = FixedLagSmoother()
        for piece in pieces:                    # (n, 3), (n, 45), (n, 3), (n,)
            smoother.push(*piece)
            done = smoother.pop()               # the frames that became final, in order
        done = smoother.pop(final=True)         # the rest, once the track has ended

    zero_phase=False: the forward (causal) pass only; every pushed frame is final at once.
    """

    def __init__(self, *, min_cutoff: float = MIN_CUTOFF_HZ, beta: float = BETA, d_cutoff: float = D_CUTOFF_HZ,
                 position_unit_m: float = POSITION_UNIT_M, finger_cutoff_scale: float = FINGER_CUTOFF_SCALE,
                 depth_cutoff_scale: float = DEPTH_CUTOFF_SCALE, depth_speed_weight: float = DEPTH_SPEED_WEIGHT,
                 orient_beta_scale: float = ORIENT_BETA_SCALE, noise_floor_scale: float = NOISE_FLOOR_SCALE,
                 block: int = SMOOTH_BLOCK_FRAMES, lag: int = SMOOTH_LAG_FRAMES, zero_phase: bool = True):
        _check_params(min_cutoff, beta, d_cutoff, noise_floor_scale)
        if block < 1 or lag < 0:
            raise InputError(None, f"FixedLagSmoother: need block >= 1 and lag >= 0, got {block}, {lag}")
        self.block, self.lag, self.unit = int(block), int(lag), float(position_unit_m)
        self.zero_phase = bool(zero_phase)
        # the wrist's orientation and the 15 finger rotations are one signal of 16 rotations, each
        # with its own cutoff and beta: the per-frame loop's cost is in its calls, not its size
        finger = min_cutoff * finger_cutoff_scale
        rot_cutoff = np.array([min_cutoff] + [finger] * 15)[:, None]
        rot_beta = np.array([beta * orient_beta_scale] + [beta] * 15)[:, None]
        self._params = {"rot": (rot_cutoff, rot_beta, d_cutoff),
                        "transl": (_translation_cutoffs(min_cutoff, depth_cutoff_scale), beta, d_cutoff)}
        self._speed_weights = _translation_speed_weights(depth_speed_weight)
        self._noise = None if noise_floor_scale == 0 else {
            "rot": _NoiseFloor(noise_floor_scale, NOISE_WINDOW_FRAMES, rotation=True),
            "transl": _NoiseFloor(noise_floor_scale, NOISE_WINDOW_FRAMES, rotation=False, weights=self._speed_weights)}
        self._state = {}  # forward-pass state per signal
        self._fwd = {"rot": [], "transl": []}  # forward results of frames not yet popped
        self._floor = {"rot": [], "transl": []}  # their speed floors (with a noise floor)
        self._ts: list[float] = []  # their timestamps (and the last popped one's, for dt)
        self._last_t: float | None = None
        self.popped = 0  # frames returned so far

    def push(self, global_orient, hand_pose, transl, timestamps_s) -> None:
        """Add n frames: global_orient (n, 3) and hand_pose (n, 45) axis-angle radians,
        transl (n, 3) metres, timestamps_s (n,) strictly increasing seconds."""
        ts = np.asarray(timestamps_s, dtype=np.float64)
        n = len(ts)
        if n == 0:
            return
        prev_t = self._last_t
        dt = np.diff(np.concatenate([[prev_t], ts])) if prev_t is not None else np.diff(ts)
        if not np.all(np.isfinite(dt)) or np.any(dt <= 0):
            raise InputError(None, "filter: timestamps must be finite and strictly increasing")
        rotations = np.concatenate([np.asarray(global_orient, dtype=np.float64).reshape(n, 1, 3),
                                    np.asarray(hand_pose, dtype=np.float64).reshape(n, 15, 3)], 1)
        signals = {"rot": _aa_to_quat(rotations), "transl": _ray_depth(np.asarray(transl, dtype=np.float64), self.unit)}
        for name, x in signals.items():
            lo, b, dc = self._params[name]
            floor = None
            if self._noise is not None:  # per sample; a track's first has no step (dt: any)
                floor = self._noise[name](x, dt if prev_t is not None else np.concatenate([[1.0], dt]))
                self._floor[name].extend(floor)
            if name == "transl":
                out, self._state[name] = _one_euro_causal(x, dt, lo, b, dc, 1, self._state.get(name),
                                                          speed_weights=self._speed_weights, speed_floor=floor)
            else:
                out, self._state[name] = _rot_causal(x, dt, lo, b, dc, self._state.get(name), speed_floor=floor)
            self._fwd[name].extend(out)
        self._ts.extend(ts.tolist())
        self._last_t = float(ts[-1])

    def pop(self, final: bool = False):
        """The frames that became final since the last call, in order: (global_orient (m, 3),
        hand_pose (m, 45), transl (m, 3)); m may be 0. final: the track has ended, all go."""
        pieces = []
        while self._ts:
            have = len(self._ts)
            if self.zero_phase and not final and have < self.block + self.lag:
                break
            m = min(self.block, have) if self.zero_phase else have
            end = have if final else self.block + self.lag
            dt = np.diff(np.asarray(self._ts[:end]))[::-1]
            back = {}
            for name in ("rot", "transl"):
                if not self.zero_phase:
                    back[name] = np.stack(self._fwd[name][:m])
                    continue
                lo, b, dc = self._params[name]
                x = np.stack(self._fwd[name][:end])[::-1].copy()
                # the backward pass opens as the forward one did: the raw signal's noise floors
                floor = np.stack(self._floor[name][:end])[::-1] if self._noise is not None else None
                out = (_one_euro_causal(x, dt, lo, b, dc, 1, speed_weights=self._speed_weights, speed_floor=floor)[0]
                       if name == "transl" else _rot_causal(x, dt, lo, b, dc, speed_floor=floor)[0])
                back[name] = out[::-1][:m]
            rot = _quat_to_aa(back["rot"])
            pieces.append((rot[:, 0], rot[:, 1:].reshape(m, 45), _from_ray_depth(back["transl"], self.unit)))
            for name in self._fwd:
                del self._fwd[name][:m]
                del self._floor[name][:m]
            del self._ts[:m]
            self.popped += m
        if not pieces:
            return np.zeros((0, 3)), np.zeros((0, 45)), np.zeros((0, 3))
        return tuple(np.concatenate(p) for p in zip(*pieces))


__all__ = ["BETA", "DEPTH_CUTOFF_SCALE", "DEPTH_REF_M", "DEPTH_SPEED_WEIGHT", "D_CUTOFF_HZ", "FINGER_CUTOFF_SCALE", "FixedLagSmoother",
           "MIN_CUTOFF_HZ", "NOISE_FLOOR_SCALE", "NOISE_WINDOW_FRAMES", "ORIENT_BETA_SCALE", "SMOOTH_BLOCK_FRAMES", "SMOOTH_LAG_FRAMES", "one_euro", "one_euro_rotations",
           "one_euro_translation", "smooth_track"]
