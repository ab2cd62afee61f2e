"""The parts the batch command is built from, each with real files, real ffmpeg, real
signals: staged outputs, input discovery, stream choice, option checks, error logs."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import cv2
import numpy as np
import pytest

from handmocap.errors import OptionError, OutputError
from handmocap.track import interrupt
from handmocap.track.checks import check_number, check_request, intrinsics_from_options, parse_exports
from handmocap.track.errorlog import record_internal_error
from handmocap.track.outputs import (begin_outputs, check_output_folder, discard_partial, publish_outputs,
                                     staging_dir)
from handmocap.track.pipeline import TrackOptions
from handmocap.video import find_inputs, probe

CLIP = Path(__file__).resolve().parents[1] / "data" / "videos" / "one_hand.mp4"


def test_publish_moves_everything_at_once_and_replaces_older_outputs(tmp_path):
    stem = tmp_path / "out" / "clip"
    old_obj = tmp_path / "out" / "clip_obj"
    old_obj.mkdir(parents=True)
    (old_obj / "clip_000099.obj").write_text("old frame")  # from an earlier, longer run
    staging = begin_outputs(stem)
    assert staging == staging_dir(stem) and staging.name == ".clip.partial"
    (staging / "clip.glb").write_bytes(b"glb")
    (staging / "clip_obj").mkdir()
    (staging / "clip_obj" / "clip_000000.obj").write_text("new frame")
    (staging / "clip.motion.npz").write_bytes(b"npz")
    (staging / "clip.motion.json").write_text("{}")
    visible_before = sorted(p.name for p in stem.parent.iterdir() if not p.name.startswith("."))
    assert visible_before == ["clip_obj"]  # nothing new is visible while exporting
    outputs = publish_outputs(staging, stem, {"glb": [staging / "clip.glb"],
                                              "obj": [staging / "clip_obj" / "clip_000000.obj"]})
    assert outputs == {"glb": [stem.parent / "clip.glb"], "obj": [stem.parent / "clip_obj" / "clip_000000.obj"]}
    assert sorted(os.listdir(stem.parent)) == ["clip.glb", "clip.motion.json", "clip.motion.npz", "clip_obj"]
    assert os.listdir(stem.parent / "clip_obj") == ["clip_000000.obj"]
    # a stale staging folder (a killed run) is replaced by a fresh one and can be discarded
    (staging_dir(stem)).mkdir()
    (staging_dir(stem) / "junk").write_text("x")
    assert os.listdir(begin_outputs(stem)) == []
    assert discard_partial(stem) and not staging_dir(stem).exists() and not discard_partial(stem)


def test_output_folder_checks(tmp_path):
    check_output_folder(tmp_path / "new" / "deeper")  # may be created: fine, and nothing is made
    assert not (tmp_path / "new").exists()
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="is a file, not a folder"):
        check_output_folder(tmp_path / "f")
    with pytest.raises(OutputError, match="no folder can be made below it"):
        check_output_folder(tmp_path / "f" / "sub")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    with pytest.raises(OutputError, match="link to nothing"):
        check_output_folder(tmp_path / "dangling")


def test_find_inputs_reports_every_entry(tmp_path):
    root = tmp_path / "in"
    (root / "shots" / "a").mkdir(parents=True)
    for k in (1, 2):  # numbered frames of one size: one image sequence
        cv2.imwrite(str(root / "shots" / "a" / f"{k:04d}.png"), np.zeros((8, 8, 3), np.uint8))
    (root / "v.mp4").write_bytes(b"x")
    (root / "dead.mkv").symlink_to(tmp_path / "gone.mkv")
    (root / "readme.txt").write_text("x")
    (root / "shots" / "back").symlink_to(root)  # a loop back to the top: searched once
    os.mkfifo(root / "pipe.mov")
    found = {f.path.relative_to(root).as_posix(): (f.error, f.kind) for f in find_inputs([root])}
    assert set(found) == {"v.mp4", "dead.mkv", "pipe.mov", "shots/a"}, found
    assert found["v.mp4"] == (None, "input") and found["shots/a"] == (None, "input")
    assert found["dead.mkv"][1] == "link" and "does not exist" in found["dead.mkv"][0]
    assert found["pipe.mov"] == ("not a regular file", "special")
    missing = find_inputs([tmp_path / "nope.mp4", tmp_path / "empty"])
    assert [(f.error, f.given) for f in missing] == [("no such file or folder", True)] * 2
    (tmp_path / "empty").mkdir()
    assert [f.kind for f in find_inputs([tmp_path / "empty"])] == ["empty"]


def _ffmpeg_own_choice(path: Path) -> int:
    """The input stream ffmpeg maps by default ("Stream #0:N -> #0:0" in its log)."""
    log = subprocess.run(["ffmpeg", "-hide_banner", "-nostdin", "-i", str(path), "-frames:v", "1", "-f", "null", "-"],
                         capture_output=True, text=True).stderr
    return int(re.search(r"Stream #0:(\d+) -> #0:0", log).group(1))


@pytest.mark.parametrize("sizes", [("160x120", "480x360"), ("480x360", "160x120"), ("320x240", "320x240")])
def test_stream_choice_is_ffmpegs(tmp_path, sizes):
    path = tmp_path / "multi.mkv"
    args = ["ffmpeg", "-v", "error", "-y"]
    for size in sizes:
        args += ["-f", "lavfi", "-i", f"testsrc=size={size}:rate=10:duration=0.5"]
    args += ["-f", "lavfi", "-i", "sine=duration=0.5", "-map", "2:a"]  # audio first would not matter
    for i in range(len(sizes)):
        args += ["-map", f"{i}:v"]
    subprocess.run([*args, "-c:v", "libx264", "-pix_fmt", "yuv420p", str(path)], check=True)
    info = probe(path)
    assert info.video_streams == 2
    assert info.stream_index == _ffmpeg_own_choice(path)
    chosen = probe(path, stream=1)
    assert chosen.stream_index == 1 and f"{chosen.width}x{chosen.height}" == sizes[0]


def test_option_checks_name_the_option(tmp_path):
    with pytest.raises(OptionError, match=r"^--fov: must be in \(0, 180\), got 180$"):
        check_request(TrackOptions(intrinsics=180.0), [], tmp_path)
    with pytest.raises(OptionError, match="^--export: unknown format 'gltf'"):
        parse_exports("glb, gltf")
    assert parse_exports(" GLB,preview,glb ") == ["glb", "preview"] and parse_exports("") == []
    with pytest.raises(OptionError, match="^--jobs: must be a whole number"):
        check_number("--jobs", 1.5, low=1, integer=True)
    with pytest.raises(OptionError, match="^--calib: give the intrinsics one way only, got --fov and --calib"):
        intrinsics_from_options(fov=60, calib="c.json")
    with pytest.raises(OptionError, match="^--model: .*not found"):
        check_request(TrackOptions(hand_model=str(tmp_path / "missing.npz")), [], tmp_path)
    check_request(TrackOptions(intrinsics=60.0, hands="left"), ["glb", "preview"], tmp_path / "out")


def test_internal_error_line_names_its_log(monkeypatch):
    monkeypatch.delenv("HANDMOCAP_DEBUG", raising=False)
    try:
        {}["missing"]
    except KeyError as exc:
        line = record_internal_error(exc, "unit test")
    assert line.startswith("internal error: KeyError: 'missing' (traceback in ") and "\n" not in line
    log = Path(line.split("traceback in ")[1].split(";")[0])
    assert "Traceback" in log.read_text() and "unit test" in log.read_text()


def test_first_signal_raises_second_exits(tmp_path):
    """In a child process: the first SIGINT becomes Interrupted, a deferred one waits for the
    critical section, a second one ends the process at once with 130."""
    script = (
        "import os, signal, time\n"
        "from handmocap.track import interrupt\n"
        "with interrupt.catch_interrupts():\n"
        "    try:\n"
        "        with interrupt.critical():\n"
        "            os.kill(os.getpid(), signal.SIGINT); time.sleep(0.2); print('critical done', flush=True)\n"
        "    except interrupt.Interrupted as exc:\n"
        "        print('caught', exc.signum, exc.exit_code, flush=True)\n"
        "    interrupt.stop_raising()\n"
        "    os.kill(os.getpid(), signal.SIGINT); time.sleep(5); print('not reached')\n")
    proc = subprocess.run([os.sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.splitlines() == ["critical done", f"caught {int(signal.SIGINT)} 130"], proc
    assert proc.returncode == 130 and "interrupted again" in proc.stderr
    assert interrupt.interrupted_line(3, 1, 2) == \
        "interrupted: 3 done, 1 partial removed, 2 not started; run the same command again to resume"


def test_debug_prints_the_traceback_instead(monkeypatch, capsys):
    monkeypatch.setenv("HANDMOCAP_DEBUG", "1")
    try:
        raise ValueError("boom")
    except ValueError as exc:
        line = record_internal_error(exc, "unit test")
    assert line == "internal error: ValueError: boom"
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ValueError: boom" in err


@pytest.mark.slow
def test_parallel_batch_after_this_process_ran_the_detector(tmp_path):
    """A library caller that tracked something in-process (MediaPipe's threads and locks now
    exist here) and then runs a parallel batch: the workers start from a fork server, not a
    fork of this process, so they detect (forked ones aborted on absl's mutex check)."""
    from handmocap.track.batch import run_batch

    clip = Path(__file__).resolve().parents[1] / "data" / "videos" / "one_hand.mp4"
    options = TrackOptions(max_frames=6, intrinsics=60.0)
    first = run_batch([clip], tmp_path / "first", options, ["npz"], jobs=1, echo=lambda line: None)
    assert first[0].ok, first[0].error
    folder = tmp_path / "in"
    folder.mkdir()
    for k in range(2):
        shutil.copy(clip, folder / f"c{k}.mp4")
    results = run_batch([folder], tmp_path / "out", options, ["npz"], jobs=2, echo=lambda line: None)
    assert [r.ok for r in results] == [True, True], [r.error for r in results]
    assert all(r.hands_found == 1.0 for r in results)
    assert sorted(p.name for p in (tmp_path / "out").glob("*.motion.npz")) == ["c0.motion.npz", "c1.motion.npz"]


def test_stopped_pool_leaves_no_manager_thread_behind():
    """A batch stopped early (full disk, a signal) ends its process pool with the pool's
    manager thread finished and its wake-up pipe closed, so the interpreter's exit hook for
    process pools has nothing left to write to (under load it printed "Exception ignored ...
    Bad file descriptor" after the batch's one error line)."""
    import time

    from handmocap.track.batch import _pool, _stop_pool

    pool = _pool(2)
    busy = pool.submit(time.sleep, 30)
    time.sleep(0.5)
    manager = pool._executor_manager_thread
    t0 = time.monotonic()
    _stop_pool(pool)
    assert time.monotonic() - t0 < 10.0
    assert not manager.is_alive() and manager.thread_wakeup._closed
    assert busy.cancelled() or busy.done()
