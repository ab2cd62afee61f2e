"""The streamed (bounded-lag) tracker: the same results with and without the overlap, frames
final after a bounded lag, the fixed-lag smoother, the streamed preview."""
import threading
from pathlib import Path

import numpy as np
import pytest

from bench.accuracy import ReplayDetector, record
from handmocap.track.filters import ORIENT_BETA_SCALE, SMOOTH_BLOCK_FRAMES, SMOOTH_LAG_FRAMES, FixedLagSmoother, \
    one_euro_rotations, one_euro_translation
from handmocap.track.pipeline import TrackOptions, process_input, track_input
from handmocap.track.stream import FeedThread

ROOT = Path(__file__).parents[2]
WAVE = ROOT / "examples" / "hand_wave.mp4"  # 60 frames: longer than every window
TWO = ROOT / "tests" / "data" / "videos" / "two_hands.mp4"
FIELDS = ("frame_index", "timestamp_s", "global_orient", "hand_pose", "betas", "transl", "keypoints_px",
          "keypoints_cam", "keypoints_rel", "confidence", "score", "detected", "reprojection_px")


def _calib(video: Path) -> Path:
    return video.with_name(video.stem + ".calib.json")


def _assert_same(a, b, rows=slice(None)):
    assert len(a.tracks) == len(b.tracks)
    for x, y in zip(a.tracks, b.tracks):
        assert (x.track_id, x.side) == (y.track_id, y.side)
        for name in FIELDS:
            u, v = np.asarray(getattr(x, name), float), np.asarray(getattr(y, name), float)
            if name != "betas":
                u, v = u[rows], v[rows]
            np.testing.assert_allclose(v, u, atol=1e-6, err_msg=name)


@pytest.mark.parametrize("video", [WAVE, TWO], ids=["one_hand", "two_hands"])
def test_overlap_gives_the_same_motion(video):
    """Real MediaPipe on each run: the lagged stages in a second thread change nothing."""
    inline = track_input(video, TrackOptions(intrinsics=_calib(video), overlap=False))
    overlapped = track_input(video, TrackOptions(intrinsics=_calib(video), overlap=True))
    assert inline.num_frames == overlapped.num_frames
    assert len(inline.tracks) == (2 if video == TWO else 1)
    _assert_same(inline, overlapped)


def test_streamed_preview_and_motion_file(tmp_path):
    """process_input draws the preview while tracking; its motion equals track_input's and the
    preview has every frame."""
    import ffmpeg

    from handmocap.motion import load_motion

    result = process_input(WAVE, tmp_path, TrackOptions(intrinsics=_calib(WAVE)), ["glb", "preview"])
    assert result.ok, result.error
    (preview,) = result.outputs["preview"]
    assert preview == tmp_path / "hand_wave.preview.mp4" and preview.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hand_wave.glb", "hand_wave.motion.json",
                                                         "hand_wave.motion.npz", "hand_wave.preview.mp4"]
    stream = ffmpeg.probe(str(preview), count_frames=None)["streams"][0]
    assert int(stream["nb_read_frames"]) == 60 and (stream["width"], stream["height"]) == (480, 360)
    _assert_same(track_input(WAVE, TrackOptions(intrinsics=_calib(WAVE), overlap=False)), load_motion(result.outputs["motion"][0]))


def test_frames_are_final_after_a_bounded_lag():
    """A frame's result depends only on frames up to a bounded lag after it: tracking the first
    50 frames gives the first block's results of tracking all 60."""
    dets = record(WAVE)
    opts = TrackOptions(intrinsics=_calib(WAVE), overlap=False)
    whole = track_input(WAVE, opts, detector=ReplayDetector(dets))
    lag = SMOOTH_BLOCK_FRAMES + SMOOTH_LAG_FRAMES
    cut = track_input(WAVE, TrackOptions(**{**opts.__dict__, "max_frames": lag + 5}), detector=ReplayDetector(dets))
    _assert_same(whole, cut, rows=slice(0, SMOOTH_BLOCK_FRAMES))
    later = slice(SMOOTH_BLOCK_FRAMES, lag + 5)  # these did see the cut: the smoother's end differs
    assert not np.allclose(whole.tracks[0].transl[later], cut.tracks[0].transl[later], atol=1e-6)


def _signals(T, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(T) / 30.0
    go = np.stack([np.sin(2 * t), np.cos(t), 0.3 * t], 1) + rng.normal(0, 0.05, (T, 3))
    pose = 0.3 * np.sin(t[:, None] + np.arange(45)) + rng.normal(0, 0.05, (T, 45))
    transl = np.stack([0.1 * np.sin(t), 0.05 * t, 0.5 + 0.0 * t], 1) + rng.normal(0, 0.003, (T, 3))
    return go, pose, transl, t


def _fixed_lag(T, piece, seed=0):
    go, pose, transl, t = _signals(T, seed)
    s, out = FixedLagSmoother(), []
    for a in range(0, T, piece):
        s.push(go[a:a + piece], pose[a:a + piece], transl[a:a + piece], t[a:a + piece])
        out.append(s.pop())
    out.append(s.pop(final=True))
    return [np.concatenate(x) for x in zip(*out)]


def test_fixed_lag_smoother_short_track_is_the_zero_phase_filter():
    T = SMOOTH_BLOCK_FRAMES + SMOOTH_LAG_FRAMES
    go, pose, transl, t = _signals(T)
    got = _fixed_lag(T, 7)
    want = [one_euro_rotations(go, t, beta=0.5 * ORIENT_BETA_SCALE, zero_phase=True),
            one_euro_rotations(pose.reshape(T, 15, 3), t, min_cutoff=3.0, zero_phase=True).reshape(T, 45),
            one_euro_translation(transl, t, zero_phase=True)]
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, atol=1e-12)


@pytest.mark.parametrize("piece", [1, 4, 15, 200])
def test_fixed_lag_smoother_does_not_depend_on_how_it_is_fed(piece):
    T = 137
    for g, w in zip(_fixed_lag(T, piece), _fixed_lag(T, 10)):
        assert g.shape[0] == T
        np.testing.assert_allclose(g, w, atol=1e-12)


def test_fixed_lag_smoother_is_close_to_the_whole_track_filter():
    T = 300
    go, pose, transl, t = _signals(T)
    got = _fixed_lag(T, 10)
    want = one_euro_translation(transl, t, zero_phase=True)
    assert np.abs(got[2] - want).max() < 0.02 * np.abs(want - want.mean(0)).max()


def test_feed_thread_raises_the_consumers_error_and_stops():
    seen = []

    def consume(item):
        if item == 3:
            raise ValueError("bad item")
        seen.append(item)

    feed = FeedThread(consume, depth=2)
    with pytest.raises(ValueError, match="bad item"):
        for k in range(100):
            feed.put(k)
        feed.finish()
    feed.abort()
    assert seen == [0, 1, 2]
    assert not any(t.name == "handmocap-lagged-stages" and t.is_alive() for t in threading.enumerate())


def test_feed_thread_abort_stops_a_busy_consumer():
    started = threading.Event()

    def consume(item):
        started.set()
        threading.Event().wait(0.01)

    feed = FeedThread(consume, depth=2)
    for k in range(3):
        feed.put(k)
    started.wait(5)
    feed.abort()
    assert not feed._thread.is_alive()


def test_a_hand_that_leaves_and_returns_keeps_its_identity_and_every_frame_is_emitted_once():
    """Real detections with the hand gone for 16 frames (longer than the bridged gaps): one
    track, its two stretches joined with one shape; each frame reaches on_frame once, in order."""
    from dataclasses import replace

    import torch

    from handmocap.camera.intrinsics import Intrinsics
    from handmocap.hand import HandModel
    from handmocap.nn.estimator import TrackEstimator
    from handmocap.track.pipeline import FilterOptions
    from handmocap.track.stream import LaggedTracker

    dets = [replace(d, hands=()) if 20 <= d.index < 36 else d for d in record(WAVE)]
    K = Intrinsics.from_file(_calib(WAVE)).resized(480, 360).K(dtype=torch.float64).numpy()
    hands = {s: HandModel(side=s) for s in ("left", "right")}
    emitted = []
    tracker = LaggedTracker(K, lambda side: (TrackEstimator(K, side, hands[side]), hands[side]),
                            smoothing=FilterOptions(), on_frame=lambda f, hs: emitted.append((f, hs)),
                            vertices=lambda side: hands[side])
    for d in dets:
        tracker.feed(d)
        assert len(emitted) <= tracker.fed  # only fed frames, never ahead
    (track,) = tracker.finish()
    assert [f for f, _ in emitted] == list(range(60))
    assert track.frame_index.tolist() == list(range(20)) + list(range(36, 60))
    for f, hs in emitted:
        assert [h.track_id for h in hs] == ([] if 20 <= f < 36 else [track.track_id])
        for h in hs:
            V = len(hands[h.side].asset.v_template)
            assert h.vertices_cam.shape == (V, 3) and np.all(h.vertices_cam[:, 2] > 0.1)
    assert track.betas.shape == (10,) and np.all(np.isfinite(track.keypoints_cam))
