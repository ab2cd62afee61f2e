"""Every bad input gives one `InputError` line that names the file; good inputs beside it
still decode."""
from __future__ import annotations

import os

import numpy as np
import pytest

from handmocap.errors import InputError
from handmocap.video import open_frames, probe


def _one_line_naming(exc: InputError, path) -> str:
    msg = str(exc)
    assert "\n" not in msg
    assert os.path.basename(str(path)) in msg
    assert exc.path is not None and exc.path.name == os.path.basename(str(path))
    return msg


@pytest.mark.parametrize("name, words", [
    ("empty", "empty file"),
    ("text", "not a video"),
    ("truncated", "truncated"),
])
def test_probe_rejects(media, name, words):
    with pytest.raises(InputError) as info:
        probe(media[name])
    assert words in _one_line_naming(info.value, media[name])
    with pytest.raises(InputError):  # open_frames probes first: fails before any frame
        open_frames(media[name])


def test_missing_file(tmp_path):
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(InputError) as info:
        open_frames(path)
    assert "no such file" in _one_line_naming(info.value, path)


def test_folder_with_no_images(tmp_path):
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "readme.txt").write_text("no frames here")
    with pytest.raises(InputError) as info:
        probe(folder)
    assert "no images" in _one_line_naming(info.value, folder)


@pytest.mark.skipif(os.geteuid() == 0, reason="running as root: a chmod-000 file stays readable")
def test_unreadable_file(media, tmp_path):
    path = tmp_path / "locked.mp4"
    path.write_bytes(media["cfr"].read_bytes())
    path.chmod(0)
    try:
        with pytest.raises(InputError) as info:
            probe(path)
        assert "permission denied" in _one_line_naming(info.value, path)
    finally:
        path.chmod(0o644)


def test_non_regular_file_is_rejected(tmp_path):
    """A FIFO (like an unreadable special file) is refused up front, without blocking."""
    fifo = tmp_path / "stream.mp4"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as info:
        probe(fifo)
    assert "not a regular file" in _one_line_naming(info.value, fifo)


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_truncated_midway_yields_frames_then_raises(media, decoder):
    """Index kept, data cut in half: the frames that decode come out, then the error says
    where decoding stopped."""
    info = probe(media["truncated_fs"])  # the index survived, so probing works
    assert info.num_frames == 50
    got = []
    with pytest.raises(InputError) as err:
        for frame in open_frames(media["truncated_fs"], decoder=decoder):
            got.append(frame.index)
    msg = _one_line_naming(err.value, media["truncated_fs"])
    assert 5 < len(got) < 50
    assert got == list(range(len(got)))
    assert f"frame {len(got)}" in msg and "truncated" in msg


def test_batch_keeps_going(media, tmp_path):
    """A batch loop over good and bad inputs: bad ones give their line, good ones finish."""
    inputs = [media["text"], media["cfr"], media["empty"], tmp_path / "gone.mp4", media["truncated_fs"],
              media["asym_png"]]
    done, failed = {}, {}
    for path in inputs:
        try:
            done[path] = sum(1 for _ in open_frames(path))
        except InputError as exc:
            failed[path] = str(exc)
    assert done == {media["cfr"]: 64, media["asym_png"]: 1}
    assert set(failed) == set(inputs) - set(done)
    for path, msg in failed.items():
        assert path.name in msg and "\n" not in msg


def test_generator_close_ends_the_ffmpeg_process(media):
    from videogen import ffmpeg_children

    assert ffmpeg_children() == []
    frames = open_frames(media["cfr"], decoder="ffmpeg")
    first = next(frames)
    assert first.index == 0 and len(ffmpeg_children()) == 1
    frames.close()
    assert ffmpeg_children() == []
    # leaving a loop by an exception cleans up too
    with pytest.raises(ZeroDivisionError):
        for frame in open_frames(media["cfr"], decoder="ffmpeg"):
            if frame.index == 3:
                1 / 0
    assert ffmpeg_children() == []


def test_memory_stays_bounded(tmp_path):
    """A minute of 640x480 video (830 MB as RGB) decodes with < 100 MB resident growth."""
    from videogen import ffmpeg

    path = tmp_path / "minute.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=640x480:rate=15", "-frames:v", "900", "-c:v", "libx264",
           "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path))
    page = os.sysconf("SC_PAGE_SIZE")

    def rss() -> int:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * page

    base = rss()
    peak = base
    n = 0
    checksum = 0
    for frame in open_frames(path, decoder="ffmpeg"):
        n += 1
        checksum += int(frame.image[::97, ::89].sum())  # touch every frame
        peak = max(peak, rss())
    assert n == 900 and checksum > 0
    assert peak - base < 100 * 2**20, f"resident memory grew by {(peak - base) / 2**20:.0f} MB"
    assert np.isfinite(checksum)
