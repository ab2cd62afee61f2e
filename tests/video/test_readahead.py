"""Read-ahead decoding and decoder options: the same frames as decoding in line, errors at
the same place, and nothing left running after close (threads, ffmpeg processes)."""
import gc
import threading
import time

import numpy as np
import pytest

from handmocap.errors import InputError
from handmocap.video import open_frames, prefetch
from videogen import ffmpeg_children


def _read_ahead_threads():
    return [t for t in threading.enumerate() if t.name == "handmocap-read-ahead"]


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_read_ahead_gives_the_same_frames(media, decoder):
    plain = list(open_frames(media["vfr"], decoder=decoder))
    with prefetch(open_frames(media["vfr"], decoder=decoder), depth=3) as frames:
        ahead = list(frames)
    assert [(f.index, f.timestamp_s) for f in ahead] == [(f.index, f.timestamp_s) for f in plain]
    assert all(np.array_equal(a.image, b.image) for a, b in zip(ahead, plain))
    assert not _read_ahead_threads()


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_read_ahead_raises_where_decoding_breaks_off(media, decoder):
    def run(frames):
        got = []
        with pytest.raises(InputError) as err:
            for f in frames:
                got.append(f.index)
        return got, str(err.value)

    plain, msg = run(open_frames(media["truncated_fs"], decoder=decoder))
    ahead, msg_ahead = run(prefetch(open_frames(media["truncated_fs"], decoder=decoder)))
    # the same verdict (ffmpeg's own error lines in the parentheses vary from run to run)
    assert plain and ahead == plain and msg_ahead.split("(")[0] == msg.split("(")[0]


def test_close_ends_the_thread_and_the_ffmpeg_process(media):
    assert ffmpeg_children() == []
    frames = prefetch(open_frames(media["noise"], decoder="ffmpeg"), depth=2)
    assert next(frames).index == 0
    time.sleep(0.2)  # the worker fills the queue and blocks on it
    assert frames.alive and len(ffmpeg_children()) == 1
    t0 = time.perf_counter()
    frames.close()
    assert time.perf_counter() - t0 < 2.0
    assert not frames.alive and ffmpeg_children() == [] and not _read_ahead_threads()
    with pytest.raises(StopIteration):
        next(frames)


def test_an_abandoned_read_ahead_stops_by_itself(media):
    frames = prefetch(open_frames(media["noise"], decoder="ffmpeg"), depth=1)
    next(frames)
    del frames
    gc.collect()
    deadline = time.time() + 5
    while (_read_ahead_threads() or ffmpeg_children()) and time.time() < deadline:
        time.sleep(0.05)
    assert not _read_ahead_threads() and ffmpeg_children() == []


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_frames_scaled_while_decoding(media, decoder):
    full = next(iter(open_frames(media["asym"], decoder=decoder))).image
    small = next(iter(open_frames(media["asym"], decoder=decoder, size=(160, 120)))).image
    assert small.shape == (120, 160, 3)
    H, W = full.shape[:2]
    block = full.reshape(120, H // 120, 160, W // 160, 3).mean((1, 3))  # area average
    assert np.abs(small.astype(float) - block).mean() < 4.0


def test_rotated_frames_scaled_upright(media):
    """size is the upright size: a 90-degree video scaled to half comes out portrait."""
    full = next(iter(open_frames(media["rot90"], decoder="ffmpeg"))).image
    H, W = full.shape[:2]
    for decoder in ("ffmpeg", "cv2"):
        small = next(iter(open_frames(media["rot90"], decoder=decoder, size=(W // 2, H // 2)))).image
        assert small.shape == (H // 2, W // 2, 3), decoder
        assert np.abs(small.astype(float) - full[::2, ::2]).mean() < 12.0, decoder
