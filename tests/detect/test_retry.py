"""Retries where the detector finds no hand (`handmocap.detect.retry`), with real MediaPipe on
the real photo right04.jpg (a LEFT hand, handphoto.py). The wrapped detector is MediaPipe with
a palm threshold it never reaches, so every frame is a miss and only the retries can find it."""
from __future__ import annotations

import numpy as np
import pytest

from handmocap.detect.retry import RetryDetector
from handmocap.errors import HandmocapError
from handmocap.video import Frame


@pytest.fixture(scope="module")
def plain(right04, image_detector):
    """The photo's hand as the plain detector finds it."""
    hands = image_detector.detect(Frame(0, 0.0, right04)).hands
    assert hands
    return hands[0]


def _blind():
    from handmocap.detect import MediaPipeHandDetector

    return MediaPipeHandDetector(mode="image", min_detection_confidence=1.0)


def _close(a, b, tol: float = 0.08):
    size = np.linalg.norm(np.ptp(b.keypoints_px, 0))
    return np.linalg.norm(a.keypoints_px - b.keypoints_px, axis=-1).mean() < tol * size


def _shrunk(image, hand):
    """The photo at half size in a grey canvas, and where the hand's keypoints go."""
    import cv2

    H, W = image.shape[:2]
    out = np.full_like(image, 128)
    out[H // 4:H // 4 + H // 2, W // 4:W // 4 + W // 2] = cv2.resize(image, (W // 2, H // 2),
                                                                       interpolation=cv2.INTER_AREA)
    return out, (hand.keypoints_px + 0.5) / 2 - 0.5 + np.array([W // 4, H // 4])


@pytest.mark.parametrize("strategy", ["flip", "rotate"])
def test_retry_finds_the_hand_and_maps_it_back(right04, image_detector, plain, strategy):
    with RetryDetector(_blind(), strategies=(strategy,), retry_detector=image_detector) as det:
        det._own_retry = False  # the module's detector is closed by its fixture
        fd = det.detect(Frame(3, 0.1, right04))
    assert fd.hands, f"{strategy} found nothing"
    h = fd.hands[0]
    assert _close(h, plain)
    assert h.handedness == "left"  # still the person's true hand (flip maps the label back)
    # metric 3D back in camera-aligned axes: near the plain detection's (MediaPipe's 3D varies
    # by a centimetre between views), and far nearer than a mirrored or half-turned reading
    c = lambda x: x - x.mean(0)  # noqa: E731
    err = lambda x: np.linalg.norm(c(x) - c(plain.keypoints_rel), axis=-1).mean()  # noqa: E731
    assert err(h.keypoints_rel) < 0.02
    for wrong in ((-1, 1, 1), (-1, -1, 1), (1, -1, 1)):
        assert err(h.keypoints_rel) < 0.5 * err(h.keypoints_rel * np.array(wrong))
    assert det.stats.found[strategy] == 1 and det.stats.misses == 1


def test_tiles_find_a_small_hand(right04, image_detector, plain):
    small, want = _shrunk(right04, plain)
    with RetryDetector(_blind(), strategies=("tiles", "crop"), retry_detector=image_detector) as det:
        det._own_retry = False
        fd = det.detect(Frame(0, 0.0, small))
    assert fd.hands and det.stats.found["tiles"] == 1 and det.stats.tried["crop"] == 0
    size = np.linalg.norm(np.ptp(want, 0))
    assert np.linalg.norm(fd.hands[0].keypoints_px - want, axis=-1).mean() < 0.08 * size


def test_crop_around_the_last_hand(right04, image_detector, plain):
    small, want = _shrunk(right04, plain)
    with RetryDetector(_blind(), strategies=("crop",), retry_detector=image_detector) as det:
        det._own_retry = False
        assert not det.detect(Frame(0, 0.0, small)).hands  # no hand known yet: no crop
        det._last_box, det._last_index = (*want.min(0), *want.max(0)), 0
        fd = det.detect(Frame(1, 0.04, small))
    assert fd.hands
    size = np.linalg.norm(np.ptp(want, 0))
    assert np.linalg.norm(fd.hands[0].keypoints_px - want, axis=-1).mean() < 0.08 * size


def test_unknown_strategy_is_refused():
    with pytest.raises(HandmocapError, match="unknown retry"):
        RetryDetector(None, strategies=("zoom",))
