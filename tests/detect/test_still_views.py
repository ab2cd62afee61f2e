"""Views of one still (`handmocap.detect.retry.view_hands`, `detect_still`) with real MediaPipe:
keypoints found in a mirrored / rotated view map back onto the image exactly, and a retry
finds the hand of a rendered still (the test split's committed 000_02.jpg, a right hand)
that the plain detector misses once the image is turned upside down."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from handmocap.detect.retry import detect_still, merge_views, same_hand, view_hands
from handmocap.errors import HandmocapError

STILL = Path(__file__).resolve().parents[2] / "datasets" / "handeval" / "test" / "images" / "000_02.jpg"


@pytest.fixture(scope="module")
def still():
    from handmocap.video import read_image

    return read_image(STILL)


def _to_view(px: np.ndarray, view: str, W: int, H: int) -> np.ndarray:
    """Where pixels (N, 2) of an image of size (W, H) land in its `view` (np.rot90 / mirror)."""
    x, y = px[:, 0], px[:, 1]
    if view == "flip":
        return np.stack([W - 1 - x, y], -1)
    if view == "rot90":  # counter-clockwise: the image becomes (H wide, W high)
        return np.stack([y, W - 1 - x], -1)
    if view == "rot270":
        return np.stack([H - 1 - y, x], -1)
    return np.stack([W - 1 - x, H - 1 - y], -1)  # rot180


# the inverse transform of each view: the view of `undo(image)` is the image itself
UNDO = {"flip": lambda a: a[:, ::-1], "rot90": lambda a: np.rot90(a, -1), "rot270": lambda a: np.rot90(a, 1),
        "rot180": lambda a: np.rot90(a, 2)}


@pytest.mark.parametrize("view", ["flip", "rot90", "rot270", "rot180"])
def test_view_keypoints_map_back_exactly(still, image_detector, view):
    plain = view_hands(image_detector, still, "plain")
    assert plain
    turned = np.ascontiguousarray(UNDO[view](still))
    H, W = turned.shape[:2]
    # MediaPipe sees `still` again (the view of `turned`): the same landmarks, mapped into `turned`
    back = view_hands(image_detector, turned, view)
    assert len(back) == len(plain)
    want = _to_view(plain[0].keypoints_px, {"rot90": "rot270", "rot270": "rot90"}.get(view, view), *still.shape[1::-1])
    assert np.abs(back[0].keypoints_px - want).max() < 1e-3
    # the label names the hand `turned` shows: a mirror image shows the other hand
    other = {"left": "right", "right": "left"}[plain[0].handedness]
    assert back[0].handedness == (other if view == "flip" else plain[0].handedness)
    # metric 3D: camera-aligned axes of `turned` (x, y turned or mirrored with the pixels)
    assert np.allclose(np.linalg.norm(back[0].keypoints_rel, axis=-1), np.linalg.norm(plain[0].keypoints_rel, axis=-1),
                       atol=1e-6)


def test_pad_view_finds_the_same_hand(still, image_detector):
    plain = view_hands(image_detector, still, "plain")
    padded = view_hands(image_detector, still, "pad")
    assert padded and same_hand(padded[0], plain[0], overlap=0.08)


def test_retry_finds_an_upside_down_hand(still, image_detector):
    upside_down = np.ascontiguousarray(np.rot90(still, 2))
    assert not view_hands(image_detector, upside_down, "plain")  # the plain detector misses it
    plain = view_hands(image_detector, still, "plain")
    found = detect_still(image_detector, upside_down, retries=("rot90", "rot180", "tiles"))
    assert found.found_in == ("rot180",) and list(found.views) == ["plain", "rot90", "rot180"]
    assert found.calls == 3  # rot90 found nothing, rot180 did: tiles never ran
    H, W = still.shape[:2]
    np.testing.assert_allclose(found.hands[0].keypoints_px, _to_view(plain[0].keypoints_px, "rot180", W, H),
                               atol=1e-3)
    assert found.hands[0].handedness == "right"


def test_views_are_merged_without_duplicates(still, image_detector):
    found = detect_still(image_detector, still, evidence=("flip", "rot90", "rot270"))
    assert sum(bool(found.views[v]) for v in ("plain", "flip", "rot90", "rot270")) >= 2  # the hand, seen again
    assert len(found.hands) == 1 and found.found_in == ("plain",)
    assert found.calls == 4
    hands, views = merge_views({"a": found.views["flip"], "b": found.views["plain"]})
    assert len(hands) == 1 and views == ("a",)


def test_unknown_view_is_one_line_error(still, image_detector):
    with pytest.raises(HandmocapError, match="unknown still views"):
        detect_still(image_detector, still, retries=("sideways",))
    with pytest.raises(HandmocapError, match="unknown view"):
        view_hands(image_detector, still, "sideways")
