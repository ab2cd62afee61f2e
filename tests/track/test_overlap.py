"""Speed machinery changes nothing but speed: tracking with the read-ahead decoder equals
tracking with in-line decoding, and the default job count follows cores, inputs and memory."""
from pathlib import Path

import numpy as np

from handmocap.track.jobs import MEMORY_PER_JOB_BYTES, default_jobs
from handmocap.track.pipeline import TrackOptions, track_input

DATA = Path(__file__).parents[1] / "data" / "videos"


def test_read_ahead_gives_the_same_motion():
    opts = dict(intrinsics=DATA / "two_hands.calib.json", max_frames=12)
    inline = track_input(DATA / "two_hands.mp4", TrackOptions(read_ahead=0, **opts))
    ahead = track_input(DATA / "two_hands.mp4", TrackOptions(read_ahead=3, **opts))
    assert inline.num_frames == ahead.num_frames == 12
    assert len(inline.tracks) == len(ahead.tracks) == 2
    for a, b in zip(inline.tracks, ahead.tracks):
        assert a.side == b.side
        for name in ("frame_index", "timestamp_s", "global_orient", "hand_pose", "betas", "transl",
                     "keypoints_px", "keypoints_cam", "keypoints_rel", "confidence", "score", "detected"):
            np.testing.assert_allclose(np.asarray(getattr(b, name), dtype=float),
                                       np.asarray(getattr(a, name), dtype=float), atol=1e-6, err_msg=name)


def test_default_jobs():
    gb = 1 << 30
    assert default_jobs(1, cpus=8, memory_bytes=64 * gb) == 1  # never more than the inputs
    assert default_jobs(10, cpus=2, memory_bytes=64 * gb) == 2  # one per core
    assert default_jobs(10, cpus=16, memory_bytes=3 * MEMORY_PER_JOB_BYTES) == 3  # memory bounds it
    assert default_jobs(10, cpus=16, memory_bytes=gb // 2) == 1  # at least one
    assert default_jobs(5) >= 1
