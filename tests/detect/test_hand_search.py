"""Searching for more hands every few frames (video mode, max_hands=2) on real rendered clips:
a one-hand clip gives exactly what max_hands=1 gives, and a second hand that enters is
found within one search period."""
from pathlib import Path

import numpy as np
import pytest

from handmocap.detect import MediaPipeHandDetector
from handmocap.video import Frame, open_frames

VIDEOS = Path(__file__).parents[1] / "data" / "videos"


@pytest.fixture(scope="module")
def two_hands():
    return list(open_frames(VIDEOS / "two_hands.mp4", max_frames=24))


def _run(frames, **kwargs):
    with MediaPipeHandDetector(**kwargs) as det:
        out = [det.detect(f) for f in frames]
        return out, det.searches


def test_one_visible_hand_costs_no_palm_search_per_frame():
    """--hands both on a one-hand clip: the same detections as --hands right (the tracking
    landmarker is the same), plus a search every `search_every` frames that finds nothing."""
    frames = list(open_frames(VIDEOS / "one_hand.mp4", max_frames=21))
    one, _ = _run(frames, max_hands=1)
    both, searches = _run(frames, max_hands=2, search_every=5)
    assert all(len(d.hands) == 1 for d in one)
    assert [len(d.hands) for d in both] == [1] * len(frames)
    for a, b in zip(one, both):
        np.testing.assert_allclose(b.hands[0].keypoints_px, a.hands[0].keypoints_px, atol=1e-6)
        assert b.hands[0].handedness == a.hands[0].handedness
    assert searches == len(range(0, 21, 5))  # on frame 0, where the hand is found, then every 5


def test_an_entering_hand_is_found_within_a_search_period(two_hands):
    """The right half of the frame is background until frame 7: MediaPipe's own every-frame
    search finds the second hand there; ours by the next search, then keeps tracking both."""
    H, W = two_hands[0].image.shape[:2]
    fill = np.median(two_hands[0].image[:, : W // 2].reshape(-1, 3), axis=0).astype(np.uint8)
    frames = []
    for f in two_hands:
        img = f.image.copy()
        if f.index < 7:
            img[:, W // 2:] = fill
        frames.append(Frame(f.index, f.timestamp_s, img))
    every, _ = _run(frames, max_hands=2, search_every=1)
    ours, _ = _run(frames, max_hands=2, search_every=4)
    first = [next(d.index for d in dets if len(d.hands) == 2) for dets in (every, ours)]
    assert first[0] == 7
    assert 7 <= first[1] < 7 + 4
    assert all(len(d.hands) == 2 for d in ours[first[1]:])
    # the same two hands: both sides, in the same places as with the every-frame search
    last_every = sorted(every[-1].hands, key=lambda h: h.keypoints_px[0, 0])
    last_ours = sorted(ours[-1].hands, key=lambda h: h.keypoints_px[0, 0])
    assert [h.handedness for h in last_ours] == [h.handedness for h in last_every]
    for a, b in zip(last_every, last_ours):
        assert np.abs(a.keypoints_px - b.keypoints_px).mean() < 3.0


def test_a_hand_lost_beside_another_is_looked_for_on_the_next_frames(two_hands):
    """Both hands tracked; the right half of the frame is background on frames 6-8 (a hand
    hidden for a moment): the search runs on each frame after the loss, not a half period
    later, so the hand is tracked again on frame 9, the first frame it is back."""
    from handmocap.detect.mediapipe_hands import LOST_SEARCH_FRAMES

    H, W = two_hands[0].image.shape[:2]
    fill = np.median(two_hands[0].image[:, : W // 2].reshape(-1, 3), axis=0).astype(np.uint8)
    frames = []
    for f in two_hands[:16]:
        img = f.image.copy()
        if 6 <= f.index <= 8:
            img[:, W // 2:] = fill
        frames.append(Frame(f.index, f.timestamp_s, img))
    dets, searches = _run(frames, max_hands=2, search_every=10)
    counts = [len(d.hands) for d in dets]
    assert counts[:6] == [2] * 6 and counts[6:9] == [1] * 3, counts
    assert counts[9:] == [2] * 7, counts  # back on the first frame it shows again
    assert LOST_SEARCH_FRAMES >= 4
    assert searches == 1 + 4  # frame 0, then frames 6-9 (found on the 4th of the eager frames)


def test_search_every_is_validated_and_one_means_every_frame(two_hands):
    from handmocap.errors import HandmocapError

    with pytest.raises(HandmocapError, match="search_every"):
        MediaPipeHandDetector(search_every=0)
    dets, searches = _run(two_hands[:6], max_hands=2, search_every=1)
    assert searches == 0 and all(len(d.hands) == 2 for d in dets)


def test_graphs_kept_for_the_next_video_give_what_new_ones_give(two_hands):
    """A detector's single-hand VIDEO graphs go back to the process's pool when it closes (a
    blank frame first) and the next detector takes them: the next video's detections equal
    those of newly built graphs, bit for bit, and no graph is built for it."""
    from handmocap.detect import mediapipe_hands as mh

    one = list(open_frames(VIDEOS / "one_hand.mp4", max_frames=20))
    mh._GRAPHS.close()
    fresh, _ = _run(one, max_hands=2)  # new graphs (then kept)
    _run(two_hands, max_hands=2)  # the kept ones track two hands, then go back again
    built = []
    real_build = mh.MediaPipeHandDetector._build
    try:
        mh.MediaPipeHandDetector._build = lambda self, *a: built.append(a) or real_build(self, *a)
        again, _ = _run(one, max_hands=2)
    finally:
        mh.MediaPipeHandDetector._build = real_build
    assert built == []
    assert [len(f.hands) for f in again] == [len(f.hands) for f in fresh]
    for a, b in zip(again, fresh):
        for ha, hb in zip(a.hands, b.hands):
            np.testing.assert_array_equal(ha.keypoints_px, hb.keypoints_px)
            np.testing.assert_array_equal(ha.keypoints_rel, hb.keypoints_rel)
            assert ha.handedness == hb.handedness and ha.score == hb.score
