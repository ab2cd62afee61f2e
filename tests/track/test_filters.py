"""One-Euro filters: jitter on a still signal, lag on a fast one, rotations without wrap-around."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handmocap.errors import InputError, ShapeError
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel
from handmocap.solve.fitting import FitResult, KeypointLayer
from handmocap.track.filters import one_euro, one_euro_rotations, one_euro_translation, smooth_track

FPS = 30.0


def _jitter_ratio(raw, filtered):
    """Frame-to-frame std of the output over that of the input (1 = no smoothing)."""
    return np.std(np.diff(filtered[20:-20], axis=0)) / np.std(np.diff(raw[20:-20], axis=0))


def _ramp(T=240, speed=3.0, noise=0.02, seed=0):
    t = np.arange(T) / FPS
    truth = np.clip((t - 2) * speed, 0, 3 * speed)[:, None].repeat(20, 1)
    return truth, truth + noise * np.random.default_rng(seed).standard_normal(truth.shape)


@pytest.mark.parametrize("zero_phase, max_jitter, max_lag_frames", [(False, 0.2, 1.5), (True, 0.06, 0.3)])
def test_still_is_still_and_fast_is_not_lagging(zero_phase, max_jitter, max_lag_frames):
    # measured (defaults min_cutoff 1 Hz, beta 0.5): causal 0.14 jitter / 1.1 frames lag,
    # zero-phase 0.03 / 0.07 frames
    rng = np.random.default_rng(1)
    still = 0.02 * rng.standard_normal((240, 20))
    assert _jitter_ratio(still, one_euro(still, fps=FPS, zero_phase=zero_phase)) < max_jitter
    truth, noisy = _ramp()
    out = one_euro(noisy, fps=FPS, zero_phase=zero_phase)
    moving = slice(int(2.5 * FPS), int(4.5 * FPS))
    lag = np.abs(out[moving] - truth[moving]).mean() / (3.0 / FPS)
    assert lag < max_lag_frames


def test_shapes_timestamps_and_speed_axes():
    x = np.random.default_rng(0).standard_normal((50, 4, 3))
    ts = np.cumsum(np.full(50, 1 / FPS))
    a = one_euro(x, ts, speed_axes=1)
    assert a.shape == x.shape
    np.testing.assert_allclose(a, one_euro(x, fps=FPS, speed_axes=1), atol=1e-9)
    # beta = 0 is a plain exponential smoother: a constant stays constant
    np.testing.assert_allclose(one_euro(np.ones((10, 2)), fps=FPS, beta=0.0), 1.0)
    with pytest.raises(InputError, match="increasing"):
        one_euro(x, ts[::-1])
    with pytest.raises(InputError, match="min_cutoff"):
        one_euro(x, fps=FPS, min_cutoff=0.0)
    with pytest.raises(InputError, match="noise_floor_scale"):
        one_euro_rotations(np.zeros((5, 3)), fps=FPS, noise_floor_scale=-1.0)
    with pytest.raises(ShapeError):
        one_euro(x, ts[:10])
    with pytest.raises(ShapeError):
        one_euro_rotations(np.zeros((5, 4)), fps=FPS)


def _angle_between(a, b):
    Ra = axis_angle_to_matrix(torch.as_tensor(a))
    Rb = axis_angle_to_matrix(torch.as_tensor(b))
    c = ((Ra.transpose(-1, -2) @ Rb).diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    return torch.arccos(c.clamp(-1, 1)).numpy()


def test_rotations_cross_pi_without_jumps():
    """A steady spin through 180 degrees: axis-angle flips sign there; the filter must not."""
    T = 90
    angle = np.linspace(2.0, 4.3, T)  # through pi
    aa = angle[:, None] * np.array([0.0, 0.0, 1.0])
    rng = np.random.default_rng(2)
    noisy = aa + 0.01 * rng.standard_normal(aa.shape)
    for zp in (False, True):
        out = one_euro_rotations(noisy[:, None], fps=FPS, zero_phase=zp)[:, 0]
        steps = _angle_between(out[:-1], out[1:])
        assert steps.max() < 0.1  # the true step is 0.026 rad; a wrap-around would be ~pi
        err = _angle_between(out, aa)
        assert err[10:-10].mean() < (0.08 if not zp else 0.02)  # causal: ~2 frames of lag at 0.8 rad/s


def test_still_rotation_jitter_reduced():
    rng = np.random.default_rng(3)
    base = np.array([0.3, -1.0, 0.5])
    noisy = base + 0.02 * rng.standard_normal((200, 15, 3))
    out = one_euro_rotations(noisy, fps=FPS, zero_phase=True)
    raw_jit = _angle_between(noisy[:-1], noisy[1:]).mean()
    out_jit = _angle_between(out[:-1], out[1:]).mean()
    assert out_jit < 0.1 * raw_jit


def test_smooth_track_recomputes_keypoints():
    hand = HandModel()
    T = 30
    rng = np.random.default_rng(4)
    go = np.array([0.2, 0.1, 1.4]) + 0.02 * rng.standard_normal((T, 3))
    pose = 0.3 + 0.02 * rng.standard_normal((T, 45))
    transl = np.array([0.0, 0.0, 0.5]) + 0.002 * rng.standard_normal((T, 3))
    fit = FitResult(global_orient=go.astype(np.float32), hand_pose=pose.astype(np.float32),
                    betas=np.zeros(10, np.float32), transl=transl.astype(np.float32),
                    keypoints_cam=np.zeros((T, 21, 3), np.float32), confidence=np.ones((T, 21), np.float32),
                    reprojection_px=np.ones(T, np.float32))
    out = smooth_track(fit, np.arange(T) / FPS, hand)
    assert np.std(np.diff(out.transl, axis=0)) < 0.3 * np.std(np.diff(transl, axis=0))
    layer = KeypointLayer(hand, dtype=torch.float64)
    kp = layer(axis_angle_to_matrix(torch.as_tensor(out.global_orient, dtype=torch.float64)),
               torch.as_tensor(out.hand_pose, dtype=torch.float64), torch.zeros(10, dtype=torch.float64))
    np.testing.assert_allclose(out.keypoints_cam, kp.numpy() + out.transl[:, None], atol=1e-5)
    np.testing.assert_array_equal(out.reprojection_px, fit.reprojection_px)
    assert smooth_track(fit.__class__(**{**fit.__dict__, "global_orient": go[:1], "hand_pose": pose[:1],
                                         "transl": transl[:1]}), [0.0], hand).global_orient.shape == (1, 3)


def test_translation_smooths_the_depth_and_keeps_the_ray():
    """DGP's depth scatters, the hand's image position does not. A hand held still at a noisy
    distance: the ray to it stays exactly where the keypoints put it and the depth noise is
    mostly removed (far more than by the former metric x, y, z filter, whose depth speed held
    it open). A hand crossing the image: the ray lags as it would at an exact depth, and the
    depth noise still drops."""
    T, rng = 240, np.random.default_rng(3)
    t = np.arange(T) / FPS
    depth = 0.6 * np.exp(0.05 * rng.standard_normal(T))  # +-5% scatter around 0.6 m
    still = np.tile([0.2, -0.1], (T, 1))
    transl = np.concatenate([still * depth[:, None], depth[:, None]], 1)
    out = one_euro_translation(transl, t, zero_phase=True)
    np.testing.assert_allclose(out[:, :2] / out[:, 2:], still, atol=1e-12)
    metric = one_euro(transl / 0.1, t, speed_axes=1, zero_phase=True) * 0.1  # the former filter
    ours, former = _jitter_ratio(depth, out[:, 2]), _jitter_ratio(depth, metric[:, 2])
    assert ours < 0.3 * former and ours < 0.03, (ours, former)  # measured 0.015 / 0.069

    moving = np.stack([np.clip((t - 2) * 0.6, 0, 1.2) - 0.6, 0.1 * np.sin(t)], 1)
    out = one_euro_translation(np.concatenate([moving * depth[:, None], depth[:, None]], 1), t, zero_phase=True)
    exact = one_euro_translation(np.concatenate([moving * 0.6, np.full((T, 1), 0.6)], 1), t, zero_phase=True)
    lag = np.abs(exact[:, :2] / exact[:, 2:] - moving).max()
    assert np.abs(out[:, :2] / out[:, 2:] - moving).max() < 1.05 * lag
    assert _jitter_ratio(depth, out[:, 2]) < 0.1  # measured 0.08 (the former filter: 0.13)


def test_translation_filter_follows_a_hand_coming_closer():
    """A real approach (0.8 m -> 0.4 m in a second) is followed within 2 cm (the depth's
    cutoff is lowered and its speed counts less: a small lag is the price)."""
    T = 150
    t = np.arange(T) / FPS
    depth = np.interp(t, [0, 1.5, 2.5, 5], [0.8, 0.8, 0.4, 0.4])
    transl = np.stack([0.05 * np.ones(T), np.zeros(T), depth], 1)
    out = one_euro_translation(transl, t, zero_phase=True)
    assert np.abs(out[:, 2] - depth).max() < 0.02
    np.testing.assert_allclose(out[-20:, 2], 0.4, atol=1e-3)


@pytest.mark.parametrize("zero_phase", [True, False])
def test_smooth_track_filters_each_signal_with_its_own_parameters(zero_phase):
    """smooth_track runs the fixed-lag smoother over the whole track: the result is each
    signal's own filter (orientation: beta x ORIENT_BETA_SCALE; fingers: min_cutoff x
    FINGER_CUTOFF_SCALE; translation: ray + log-depth), zero-phase or causal."""
    from handmocap.track.filters import FINGER_CUTOFF_SCALE, ORIENT_BETA_SCALE

    rng, T = np.random.default_rng(0), 90
    t = np.arange(T) / FPS
    go, pose = rng.normal(0, 0.3, (T, 3)), rng.normal(0, 0.3, (T, 45))
    transl = np.c_[0.05 * np.ones(T), np.zeros(T), 0.5 + 0.01 * rng.standard_normal(T)]
    fit = FitResult(global_orient=go, hand_pose=pose, transl=transl, betas=np.zeros(10),
                    keypoints_cam=np.zeros((T, 21, 3)), confidence=np.ones(T), reprojection_px=np.zeros(T),
                    camera="perspective")
    out = smooth_track(fit, t, HandModel(None), zero_phase=zero_phase)
    want = [one_euro_rotations(go, t, beta=0.5 * ORIENT_BETA_SCALE, zero_phase=zero_phase),
            one_euro_rotations(pose.reshape(T, 15, 3), t, min_cutoff=FINGER_CUTOFF_SCALE,
                               zero_phase=zero_phase).reshape(T, 45),
            one_euro_translation(transl, t, zero_phase=zero_phase)]
    for got, w in zip((out.global_orient, out.hand_pose, out.transl), want):
        np.testing.assert_allclose(got, w, atol=1e-6)  # float32 results


def test_noise_floor_keeps_noise_from_opening_the_filter_but_not_motion():
    """Rotations seen through noisy estimates: with the noise floor, the noise of a slowly
    turning hand no longer reads as speed (less shake, no larger error), a fast-turning
    one is still followed about as closely as by the plain filter, and the floor follows the
    noise level up and down (none on a steady turn)."""
    from handmocap.track.filters import _aa_to_quat, _NoiseFloor

    T = 300
    t = np.arange(T) / FPS

    def run(amp_deg, hz, noise_deg):
        truth = np.stack([np.zeros(T), np.deg2rad(amp_deg) * np.sin(2 * np.pi * hz * t), np.zeros(T)], 1)
        noisy = truth + np.deg2rad(noise_deg) * np.random.default_rng(5).standard_normal((T, 3))
        out = {}
        for name, scale in (("plain", 0.0), ("floored", None)):
            x = one_euro_rotations(noisy, t, zero_phase=True, **({} if scale is None else {"noise_floor_scale": scale}))
            rel = axis_angle_to_matrix(torch.as_tensor(x[20:-20])).transpose(1, 2) @ axis_angle_to_matrix(
                torch.as_tensor(truth[20:-20]))
            err = float(torch.arccos(((rel.diagonal(dim1=1, dim2=2).sum(-1) - 1) / 2).clamp(-1, 1)).mean())
            out[name] = (err, float(np.std(np.diff(x - truth, axis=0)[20:-20])))  # (error, shake) rad
        return out

    slow = run(10, 0.3, 2)  # measured at the default 0.2: error 0.85 vs 0.94 deg, shake 0.11 vs 0.18
    assert slow["floored"][0] <= slow["plain"][0] and slow["floored"][1] < 0.7 * slow["plain"][1]
    fast = run(60, 1.0, 3)  # measured: error 3.05 vs 2.87 deg
    assert fast["floored"][0] < 1.2 * fast["plain"][0]
    clean = run(60, 1.0, 0)
    assert clean["floored"][0] < 1.05 * clean["plain"][0] + 1e-6

    def level(x):
        return float(np.median(_NoiseFloor(1.0, 15, rotation=True)(_aa_to_quat(x), np.full(T, 1 / FPS))[20:]))

    steady = np.stack([np.zeros(T), 0.5 * t, np.zeros(T)], 1)
    rng = np.random.default_rng(6)
    low = level(steady + np.deg2rad(0.3) * rng.standard_normal((T, 3)))
    high = level(steady + np.deg2rad(3) * rng.standard_normal((T, 3)))
    assert 7 < high / low < 13 and level(steady) < 1e-9


def test_noise_floor_of_the_depth_does_not_hold_back_the_ray():
    """Translation floors are per component: a noisy depth does not slow a hand crossing the
    image more than the plain filter does."""
    T, rng = 240, np.random.default_rng(3)
    t = np.arange(T) / FPS
    depth = 0.6 * np.exp(0.05 * rng.standard_normal(T))
    moving = np.stack([np.clip((t - 2) * 0.6, 0, 1.2) - 0.6, 0.1 * np.sin(t)], 1)
    transl = np.concatenate([moving * depth[:, None], depth[:, None]], 1)
    ray = lambda out: out[:, :2] / out[:, 2:]  # noqa: E731
    plain = np.abs(ray(one_euro_translation(transl, t, zero_phase=True, noise_floor_scale=0)) - moving).max()
    floored = one_euro_translation(transl, t, zero_phase=True)
    assert np.abs(ray(floored) - moving).max() < 1.05 * plain
    assert _jitter_ratio(depth, floored[:, 2]) < _jitter_ratio(
        depth, one_euro_translation(transl, t, zero_phase=True, noise_floor_scale=0)[:, 2])
