"""The headroom measure of `training.temporal_headroom`: its filters remove frame-to-frame
noise and leave a steady error alone, which is what the measure relies on."""
import numpy as np

from handmocap.geometry.metrics import pa_mpjpe
from training.temporal_headroom import filtered_errors


def _hand(T: int, rng) -> np.ndarray:
    """(T, 21, 3) a slowly turning rigid 'hand' of random points (metres)."""
    pts = rng.normal(scale=0.04, size=(21, 3))
    angles = np.linspace(0, 0.6, T)
    c, s = np.cos(angles), np.sin(angles)
    R = np.stack([np.stack([c, -s, 0 * c], -1), np.stack([s, c, 0 * c], -1), np.stack([0 * c, 0 * c, 1 + 0 * c], -1)], 1)
    return np.einsum("tij,kj->tki", R, pts) + np.array([0, 0, 0.5])


def test_filters_remove_frame_to_frame_noise():
    rng = np.random.default_rng(0)
    gt = _hand(60, rng)
    noisy = gt + rng.normal(scale=0.005, size=gt.shape)
    raw = 1000 * float(np.asarray(pa_mpjpe(noisy, gt)).mean())
    err = filtered_errors(noisy, gt)
    assert err["mean9"] < 0.6 * raw and err["median9"] < 0.7 * raw


def test_filters_leave_a_steady_error():
    rng = np.random.default_rng(1)
    gt = _hand(60, rng)
    biased = gt + rng.normal(scale=0.005, size=(1, 21, 3))  # the same error on every frame
    raw = 1000 * float(np.asarray(pa_mpjpe(biased, gt)).mean())
    err = filtered_errors(biased, gt)
    assert all(abs(v - raw) < 0.05 * raw for v in err.values())
