"""`handmocap track --ray` on a real Ray head (127.0.0.1, 2 CPUs): same motion files, lines
and exit codes as a local run; worker loss retried; Ctrl-C; resume. Real processes, real
signals, real MediaPipe."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from handmocap.track.batch import run_batch
from handmocap.track.pipeline import TrackOptions

from .conftest import HANDMOCAP, run_track, task_workers

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ray")]

ROOT = Path(__file__).resolve().parents[2]
CLIPS = [ROOT / "tests/data/videos/one_hand.mp4", ROOT / "tests/data/videos/two_hands.mp4",
         ROOT / "examples/hand_wave.mp4"]
FRAMES = 6
TOL = 1e-6


def _folder(tmp: Path, clips=CLIPS, bad=True) -> Path:
    d = tmp / "in"
    d.mkdir()
    for c in clips:
        shutil.copy(c, d / c.name)
    if bad:
        (d / "broken.mp4").write_text("this is not a video\n")
    return d


def _leftovers(out: Path) -> list[str]:
    """Anything half-written: staging folders, .partial files."""
    return [str(p) for p in out.rglob("*") if ".handmocap-ray" in p.parts or ".partial" in p.name]


def _same_motion(a: Path, b: Path) -> None:
    with np.load(a) as za, np.load(b) as zb:
        assert za.files == zb.files
        for k in za.files:
            if za[k].dtype.kind in "fiub":
                np.testing.assert_allclose(za[k].astype(np.float64), zb[k].astype(np.float64), atol=TOL, rtol=0,
                                           err_msg=f"{a.name}:{k}")
            else:  # the metadata, the input's name as given included
                assert str(za[k]) == str(zb[k]), k


def _no_fps(line: str) -> str:
    return re.sub(r", [0-9.]+ frames/s$", "", line)


@pytest.fixture(scope="module")
def folder_run(ray_cluster, tmp_path_factory):
    """The 4-input folder (one bad) through the cluster, and through a local -j 1 run."""
    tmp = tmp_path_factory.mktemp("ray_folder")
    _folder(tmp)
    # relative paths, as typed in a shell: the workers must resolve them as the driver does
    args = ["in", "--out", "ray", "--max-frames", FRAMES, "--export", "glb", "--fov", 60]
    proc = run_track([*args, "--ray", ray_cluster["address"]], ray_cluster["env"], cwd=tmp)
    local_lines: list[str] = []
    here = os.getcwd()
    os.chdir(tmp)
    try:
        run_batch([Path("in")], Path("local"), TrackOptions(intrinsics=60.0, max_frames=FRAMES), ["glb"],
                  echo=local_lines.append)
    finally:
        os.chdir(here)
    return {"proc": proc, "args": args, "tmp": tmp, "local_lines": local_lines}


def test_folder_matches_local_run(folder_run):
    proc, tmp = folder_run["proc"], folder_run["tmp"]
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and "1 of 4 inputs failed" in proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert len(lines) == 4, proc.stdout
    failed = [l for l in lines if "FAILED" in l]
    assert len(failed) == 1 and failed[0].startswith("broken.mp4: FAILED: ") and "not a video" in failed[0]
    # the same lines as the local runner (throughput aside), the error line word for word
    assert sorted(map(_no_fps, lines)) == sorted(map(_no_fps, folder_run["local_lines"]))
    assert failed[0] in folder_run["local_lines"]
    for clip in CLIPS:
        _same_motion(tmp / "ray" / f"{clip.stem}.motion.npz", tmp / "local" / f"{clip.stem}.motion.npz")
        assert (tmp / "ray" / f"{clip.stem}.glb").stat().st_size > 0
    assert not list((tmp / "ray").glob("broken*")) and not _leftovers(tmp / "ray")


def test_second_run_skips_finished_inputs(folder_run, ray_cluster):
    """Resume, attached with --ray auto through RAY_ADDRESS."""
    tmp = folder_run["tmp"]
    stamps = {p.name: p.stat().st_mtime_ns for p in (tmp / "ray").iterdir()}
    proc = run_track([*folder_run["args"], "--ray", "auto"], dict(ray_cluster["env"], RAY_ADDRESS=ray_cluster["address"]),
                     cwd=tmp)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert sorted(lines) == sorted([f"{c.name}: skipped (already done; --overwrite to redo)" for c in CLIPS]
                                   + [l for l in lines if l.startswith("broken.mp4: FAILED")]), lines
    assert len(lines) == 4
    assert {p.name: p.stat().st_mtime_ns for p in (tmp / "ray").iterdir()} == stamps


def _wait_for_worker(proc, cwd: Path, min_age_s: float, timeout=240) -> int:
    """A worker that has been running one of this driver's tasks for `min_age_s`."""
    first: dict[int, float] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        now = time.monotonic()
        pids = task_workers(cwd)
        for p in pids:
            first.setdefault(p, now)
        ripe = [p for p in pids if now - first[p] >= min_age_s]
        if ripe:
            return ripe[0]
        time.sleep(0.1)
    pytest.fail("no worker ran a track task")


def test_worker_killed_mid_input_is_retried(ray_cluster, tmp_path):
    # one clip, all 60 frames: the task runs ~5 s, so a worker 3 s into it is mid-way (30 frames
    # took under 3 s once graph start-up got faster, and the kill came after the task)
    inputs = _folder(tmp_path, CLIPS[2:], bad=False)
    out = tmp_path / "out"
    proc = subprocess.Popen([str(HANDMOCAP), "track", str(inputs), "--out", str(out), "--export", "glb", "--ray", ray_cluster["address"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ray_cluster["env"], cwd=tmp_path)
    try:
        pid = _wait_for_worker(proc, tmp_path, min_age_s=3.0)
        assert not (out / "hand_wave.motion.npz").exists()  # mid-way: not finished
        os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
        assert not (out / "hand_wave.glb").exists() and not (out / "hand_wave.motion.npz").exists()
        stdout, stderr = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr
    assert "hand_wave.mp4: worker lost" in stderr and "attempt 2 of 3" in stderr, stderr
    assert stdout.strip().startswith("hand_wave.mp4: 60 frames"), stdout
    assert (out / "hand_wave.glb").exists() and (out / "hand_wave.motion.npz").exists()
    assert not _leftovers(out)


def test_ctrl_c_cancels_cluster_tasks(ray_cluster, tmp_path):
    """Ctrl-C in a terminal: SIGINT to the command's process group."""
    inputs = _folder(tmp_path, CLIPS, bad=False)
    out = tmp_path / "out"
    proc = subprocess.Popen([str(HANDMOCAP), "track", str(inputs), "--out", str(out), "--export", "glb",
                             "--ray", ray_cluster["address"]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=ray_cluster["env"], start_new_session=True, cwd=tmp_path)
    try:
        _wait_for_worker(proc, tmp_path, min_age_s=2.0)
        os.killpg(proc.pid, signal.SIGINT)
        t0 = time.monotonic()
        stdout, stderr = proc.communicate(timeout=60)
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert took < 15, took
    line = [l for l in stderr.splitlines() if l.startswith("interrupted: ")]
    assert len(line) == 1 and "run the same command again to resume" in line[0], stderr
    done, partial, not_started = map(int, re.findall(r"(\d+) (?:done|partial|not)", line[0]))
    assert done + partial + not_started == 3 and partial >= 1
    assert "Traceback" not in stderr
    deadline = time.monotonic() + 10  # the cluster's workers stop running our tasks
    while task_workers(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not task_workers(tmp_path)
    assert not _leftovers(out)
    finished = {p.name.split(".")[0] for p in out.glob("*.motion.npz")}
    assert len(finished) == done
    assert {p.name.split(".")[0] for p in out.glob("*.glb")} == finished  # no output of unfinished inputs


def test_without_ray_one_line_and_exit_2(tmp_path):
    """A Python where `import ray` fails, as after a plain `pip install handmocap`."""
    shim = tmp_path / "no_ray" / "ray"
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    env = dict(os.environ, PYTHONPATH=str(shim.parent))
    proc = run_track([ROOT / "examples/hand_wave.mp4", "--out", tmp_path / "o", "--ray", "local"], env, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'handmocap[ray]'" in lines[0], proc.stderr
    assert not (tmp_path / "o").exists()


def test_unwritable_out_one_line(tmp_path):
    proc = run_track([ROOT / "examples/hand_wave.mp4", "--out", "/proc/handmocap-out", "--ray", "local"],
                     dict(os.environ), timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "/proc/handmocap-out" in lines[0] and "Traceback" not in proc.stderr, proc.stderr


def test_ray_options_need_ray(tmp_path):
    proc = run_track([ROOT / "examples/hand_wave.mp4", "--out", tmp_path / "o", "--cpus-per-task", "2"],
                     dict(os.environ), timeout=60)
    assert proc.returncode == 2 and "--cpus-per-task needs --ray" in proc.stderr


def test_private_cluster_refuses_resources_it_lacks(tmp_path):
    """--ray local starts and stops its own cluster; a task asking for more than the machine
    has gets one line instead of waiting forever."""
    proc = run_track([ROOT / "examples/hand_wave.mp4", "--out", tmp_path / "o", "--ray", "local",
                      "--gpus-per-task", "64"], dict(os.environ), timeout=180, cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "--gpus-per-task 64: this machine offers Ray" in lines[0], proc.stderr
    assert not list((tmp_path / "o").rglob("*.motion.npz")) and not _leftovers(tmp_path / "o")
    assert not task_workers(tmp_path)
