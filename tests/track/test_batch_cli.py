"""The real `handmocap track` process under real signals, bad options and awkward inputs.

Every test runs the installed command as a subprocess (its own session, so a group signal
reaches only it) on short rendered clips, and looks at what it leaves on disk.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_proc import (CLIP, EXE, can_drop_root, final_outputs, hidden_entries, processes_mentioning, run, start,
                      wait_for)

pytestmark = pytest.mark.slow
FAST = ["--max-frames", "8", "--export", "glb", "--fov", "60"]


def _inputs(folder: Path, n: int = 4, clips: list[Path] | None = None) -> Path:
    """c1.mp4 ... cN.mp4: copies of `clips` (default: the test clip N times)."""
    folder.mkdir(parents=True)
    for i, clip in enumerate(clips or [CLIP] * n, 1):
        shutil.copy(clip, folder / f"c{i}.mp4")
    return folder


def _motion_files(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.motion.npz")) if out.exists() else []


@pytest.fixture(scope="module")
def short_then_long_clips(tmp_path_factory) -> list[Path]:
    """c1: the test clip's first 8 frames; c2-c4: the clip three times over (90 frames, well
    over a second of tracking each even on a fast machine), so a signal sent 0.2 s after c1
    is done always lands inside an input."""
    folder = tmp_path_factory.mktemp("clips")
    encode = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-loglevel", "error"]
    subprocess.run(["ffmpeg", "-i", CLIP, "-frames:v", "8", *encode, folder / "c1.mp4"], check=True)
    subprocess.run(["ffmpeg", "-stream_loop", "2", "-i", CLIP, *encode, folder / "c2.mp4"], check=True)
    return [folder / "c1.mp4", *(folder / "c2.mp4",) * 3]


@pytest.mark.parametrize("jobs", [1, 2])
@pytest.mark.parametrize("target", ["process", "group"])
def test_sigint_stops_the_batch_and_a_rerun_finishes_the_rest(tmp_path, jobs, target, short_then_long_clips):
    src = _inputs(tmp_path / "in", clips=short_then_long_clips)
    out = tmp_path / "out"
    args = ["track", src, "--out", out, "-j", jobs, "--export", "glb", "--fov", "60"]
    proc = start(args, tmp_path)

    def one_done_and_more_to_do() -> bool:
        return 1 <= len(_motion_files(out)) < 4

    # interrupt once the short input is done and a long one is being decoded and detected
    # (the decoder may run in-process, cv2, so there is no child process to look for)
    assert wait_for(one_done_and_more_to_do, 180, proc, step=0.005), proc.communicate()
    time.sleep(0.2)
    assert len(_motion_files(out)) < 4
    t0 = time.monotonic()
    if target == "group":
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    else:
        os.kill(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=30)
    seconds = time.monotonic() - t0
    assert proc.returncode == 130, (stdout, stderr)
    assert seconds < 5.0, seconds
    lines = [ln for ln in stderr.splitlines() if ln.startswith("interrupted:")]
    assert len(lines) == 1 and lines[0].endswith("run the same command again to resume"), stderr
    assert "Traceback" not in stderr and "FAILED" not in stdout, (stdout, stderr)
    done = int(lines[0].split(": ")[1].split(" done")[0])
    partial = int(lines[0].split(", ")[1].split(" partial")[0])
    not_started = int(lines[0].split(", ")[2].split(" not started")[0])
    assert done + partial + not_started == 4 and partial >= 1, lines[0]
    # nothing half-written: only complete inputs (motion file + GLB), no staging folders
    assert hidden_entries(out) == [], hidden_entries(out)
    finished = _motion_files(out)
    assert len(finished) == done
    assert sorted(p.name for p in out.glob("*.glb")) == [n.replace(".motion.npz", ".glb") for n in finished]
    # every child (decoders, workers) is gone
    assert wait_for(lambda: not processes_mentioning(str(src)), 5), processes_mentioning(str(src))
    # the same command again: the done inputs are skipped, the rest is tracked
    code, stdout, stderr, _ = run(args, tmp_path)
    assert code == 0, (stdout, stderr)
    assert stdout.count("skipped (already done") == done, stdout
    assert stdout.count(" frames, hands found on") == 4 - done, stdout
    assert len(_motion_files(out)) == 4 and hidden_entries(out) == []


@pytest.mark.parametrize("jobs,target", [(1, "process"), (2, "group")])
def test_sigterm_exits_143(tmp_path, jobs, target):
    src = _inputs(tmp_path / "in", 3)
    out = tmp_path / "out"
    proc = start(["track", src, "--out", out, "-j", jobs, *FAST], tmp_path)
    assert wait_for(lambda: len(_motion_files(out)) >= 1, 180, proc), proc.communicate()
    t0 = time.monotonic()
    if target == "group":  # e.g. a service manager stopping the whole group
        os.killpg(proc.pid, signal.SIGTERM)
    else:
        proc.send_signal(signal.SIGTERM)
    stdout, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 143 and time.monotonic() - t0 < 5.0, (stdout, stderr)
    assert "interrupted: " in stderr and "Traceback" not in stderr and hidden_entries(out) == []
    assert wait_for(lambda: not processes_mentioning(str(src)), 5), processes_mentioning(str(src))


def test_sigkill_during_export_leaves_nothing_under_final_names(tmp_path):
    src = _inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    args = ["track", src, "--out", out, "--max-frames", "12", "--export", "glb,obj,preview", "--fov", "60"]
    proc = start(args, tmp_path)
    staging = out / ".c1.partial"
    # the exports are being written into the staging folder: kill the whole process group
    assert wait_for(lambda: staging.is_dir() and any(staging.iterdir()), 180, proc, step=0.005), \
        proc.communicate()
    os.killpg(proc.pid, signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert final_outputs(out) == [], final_outputs(out)
    # the next run removes the stale staging folder and writes everything
    code, stdout, stderr, _ = run(args, tmp_path)
    assert code == 0, (stdout, stderr)
    assert hidden_entries(out) == []
    assert {"c1.glb", "c1.motion.npz", "c1.motion.json", "c1.preview.mp4", "c1_obj"} <= set(final_outputs(out))
    assert len(list((out / "c1_obj").glob("*.obj"))) == 12


BAD_OPTIONS = [
    (["--fov", "0"], "--fov"),
    (["--fov", "500"], "--fov"),
    (["--fov", "nan"], "--fov"),
    (["--calib", "missing.json"], "--calib"),
    (["--calib", "{bad_calib}"], "--calib"),
    (["--model", "{evil_model}"], "--model"),
    (["--export", "glb,xyz"], "--export"),
    (["--jobs", "0"], "--jobs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--hands", "up"], "--hands"),
    (["--fx", "800"], "--fx"),
    (["--fx", "-5", "--cx", "1", "--cy", "1"], "--fx"),
    (["--max-frames", "0"], "--max-frames"),
    (["--hand-length", "0.5"], "--hand-length"),
    (["--estimator", "magic"], "--estimator"),
    (["--stream", "-1"], "--stream"),
    (["--noise-floor", "-0.5"], "--noise-floor"),
    (["--beta", "-1"], "--beta"),
    (["--fov", "abc"], "--fov"),
    (["--out", "{a_file}"], "--out"),
]


@pytest.mark.parametrize("extra,option", BAD_OPTIONS, ids=[" ".join(a) for a, _ in BAD_OPTIONS])
def test_bad_option_exits_2_at_once_without_opening_an_input(tmp_path, extra, option):
    bad_calib = tmp_path / "bad.json"
    bad_calib.write_text('{"camera_matrix": [[1, 2], [3]]}')
    evil = tmp_path / "evil.pkl"  # a pickle that would run a shell command when loaded
    evil.write_bytes(b"cos\nsystem\n(S'touch " + str(tmp_path / "pwned").encode() + b"'\ntR.")
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    extra = [e.format(bad_calib=bad_calib, evil_model=evil, a_file=a_file) for e in extra]
    out = tmp_path / "out"
    args = ["track", CLIP, "--out", out, "--max-frames", "4", *extra]
    code, stdout, stderr, seconds = run(args, tmp_path, timeout=60)
    assert code == 2, (stdout, stderr)
    assert seconds < 3.0, seconds
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0] and "Traceback" not in stderr, stderr
    assert stdout == "" and CLIP.name not in stderr
    assert not out.exists() and not (tmp_path / "pwned").exists()


@pytest.mark.skipif(not can_drop_root(), reason="cannot run the command without root's permission override")
def test_read_only_out_is_one_line(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        code, stdout, stderr, _ = run(["track", CLIP, "--out", ro / "sub", *FAST], tmp_path, drop_root=True, timeout=60)
    finally:
        ro.chmod(0o755)
    assert code == 2, (stdout, stderr)
    assert stderr.strip().splitlines() == [f"error: --out: {ro}: is not writable (permission denied)"]
    assert not (ro / "sub").exists()


def _can_mount_tmpfs() -> bool:
    import tempfile

    if shutil.which("unshare") is None:
        return False
    with tempfile.TemporaryDirectory() as d:
        return subprocess.run(["unshare", "--mount", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {d}"],
                              capture_output=True).returncode == 0


@pytest.mark.skipif(not _can_mount_tmpfs(), reason="no permission to mount a small tmpfs (needs CAP_SYS_ADMIN)")
def test_full_disk_stops_the_batch_with_one_line(tmp_path):
    small = tmp_path / "small"
    small.mkdir()
    src = _inputs(tmp_path / "in", 2)
    # a 96 KiB file system: the GLB (~100 KB) cannot be written
    cmd = (f"mount -t tmpfs -o size=96k tmpfs {small} && {EXE} track {src} --out {small}/out "
           + " ".join(FAST) + f"; echo rc=$?; ls -A {small}/out")
    proc = subprocess.run(["unshare", "--mount", "sh", "-c", cmd], capture_output=True, text=True, timeout=240)
    assert "rc=1" in proc.stdout, (proc.stdout, proc.stderr)
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "no space left on device" in errors[0] and "not started" in errors[0], proc.stderr
    listing = proc.stdout.split("rc=1", 1)[1].split()
    assert listing == [], listing  # no staging folder, no partial file


def test_missing_ffmpeg_is_one_line(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    env = {**os.environ, "PATH": str(empty)}
    code, stdout, stderr, _ = run(["track", CLIP, "--out", tmp_path / "o", "--max-frames", "4"], tmp_path,
                                  env=env, timeout=60)
    assert code == 2 and stderr.strip().splitlines() == [
        "error: --export: the preview needs ffmpeg, which is not installed (apt-get install ffmpeg), "
        "or leave it out: --export glb"], stderr


@pytest.mark.skipif(not can_drop_root(), reason="cannot run the command without root's permission override")
def test_every_folder_entry_gets_a_line(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(CLIP, src / "good.mp4")
    (src / "gone.mp4").symlink_to(tmp_path / "deleted.mp4")  # a link that leads nowhere
    (src / "loop.mov").symlink_to(src / "loop.mov")            # a link to itself
    locked = src / "locked"
    locked.mkdir()
    shutil.copy(CLIP, locked / "hidden_from_us.mp4")
    (src / "notes.txt").write_text("not an input")
    locked.chmod(0o000)
    try:
        code, stdout, stderr, _ = run(["track", src, "--out", tmp_path / "out", *FAST], tmp_path,
                                      drop_root=True)
    finally:
        locked.chmod(0o755)
    lines = stdout.strip().splitlines()
    assert len(lines) == 4, stdout
    assert any(ln.startswith("good.mp4: 8 frames") for ln in lines), stdout
    assert any(ln.startswith("gone.mp4: FAILED: a link to nothing") for ln in lines), stdout
    assert any(ln.startswith("loop.mov: FAILED: a link to nothing") for ln in lines), stdout
    assert any(ln.startswith("locked: FAILED: permission denied") for ln in lines), stdout
    assert code == 1 and "3 of 4 inputs failed" in stderr and "Traceback" not in stderr


def test_two_stream_file_tracks_the_camera_stream(tmp_path):
    two = tmp_path / "two.mkv"
    # stream 0: a small test pattern (a "cover"); stream 1: the hand clip
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=30:duration=1",
                    "-i", str(CLIP), "-map", "0:v", "-map", "1:v", "-c:v", "libx264", "-pix_fmt", "yuv420p",
                    str(two)], check=True)
    out = tmp_path / "out"
    code, stdout, stderr, _ = run(["track", two, "--out", out, *FAST], tmp_path)
    assert code == 0, (stdout, stderr)
    assert "hands found on 100%" in stdout and "video stream #0:1 of 2 video streams" in stdout, stdout
    code, stdout, stderr, _ = run(["track", two, "--out", out, "--overwrite", "--stream", "0", *FAST], tmp_path)
    assert code == 0 and "hands found on 0%" in stdout and "#0:0 of 2" in stdout, stdout
    code, stdout, stderr, _ = run(["track", two, "--out", out, "--overwrite", "--stream", "5", *FAST], tmp_path)
    assert code == 1 and "two.mkv: FAILED: --stream 5: has no stream 5" in stdout, stdout
