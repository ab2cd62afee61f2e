"""Folder throughput on a private local Ray cluster against local processes, in one run.

    python -m bench.ray_scaling [--quick] [--copies N]     (or: python -m bench --ray)

The same folder (the test clips, copied N times) is tracked four ways: `-j 1`, `-j 2`,
`--ray local` with a 1-CPU and with a 2-CPU cluster. Printed: input frames per second of
the batch (cluster start-up apart, and included), the ratios to `-j 1`, the cluster's
start-up time, and the per-task overhead: an empty Ray task's round trip on a warm worker,
and per input of the batch, (wall time - time inside process_input) / inputs, which also
holds each worker's one-off imports (torch, MediaPipe).
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

CLIPS = [Path("tests/data/videos/one_hand.mp4"), Path("tests/data/videos/two_hands.mp4"),
         Path("examples/hand_wave.mp4")]


def _folder(root: Path, copies: int) -> Path:
    folder = root / "in"
    folder.mkdir()
    for k in range(copies):
        for c in CLIPS:
            shutil.copy(c, folder / f"{c.stem}_{k}{c.suffix}")
    return folder


def _noop() -> float:
    return time.perf_counter()


def _task_round_trip(ray, n: int = 20) -> float:
    """Median seconds for one empty task, submitted and fetched one at a time (warm worker)."""
    task = ray.remote(num_cpus=1)(_noop)
    ray.get(task.remote())  # starts the worker
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(task.remote())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _row(name, results, wall, startup=None):
    frames = sum(r.frames for r in results)
    inside = sum(r.seconds for r in results)
    assert all(r.ok for r in results), [r.error for r in results if not r.ok]
    return {"name": name, "frames": frames, "wall": wall, "startup": startup, "fps": frames / wall,
            "fps_total": frames / (wall + (startup or 0.0)), "overhead": (wall - inside * 1.0) / len(results),
            "inside": inside}


def run(copies: int = 2, max_frames: int | None = None) -> str:
    from handmocap.track.batch import run_batch
    from handmocap.track.pipeline import TrackOptions
    from handmocap.track.ray_runner import connect, run_batch_ray

    os.environ.setdefault("GLOG_minloglevel", "2")
    options = TrackOptions(max_frames=max_frames)
    quiet = lambda line: None  # noqa: E731
    rows, round_trips = [], {}
    with tempfile.TemporaryDirectory(prefix="handmocap_ray_bench_") as tmp:
        tmp = Path(tmp)
        folder = _folder(tmp, copies)
        run_batch([CLIPS[0]], tmp / "warm", TrackOptions(max_frames=2), [], echo=quiet)  # imports, model files
        for jobs in (1, 2):
            t0 = time.perf_counter()
            res = run_batch([folder], tmp / f"j{jobs}", options, [], jobs=jobs, echo=quiet)
            rows.append(_row(f"-j {jobs}", res, time.perf_counter() - t0))
        for cpus in (1, 2):
            t0 = time.perf_counter()
            with connect("local", num_cpus=cpus) as ray:
                startup = time.perf_counter() - t0
                t1 = time.perf_counter()
                res = run_batch_ray([folder], tmp / f"ray{cpus}", options, [], address="local", echo=quiet,
                                    warn=quiet)
                wall = time.perf_counter() - t1
                round_trips[cpus] = _task_round_trip(ray)
            rows.append(_row(f"--ray local, {cpus} CPU{'s' if cpus > 1 else ''}", res, wall, startup))
    base = rows[0]["fps"]
    n = len(CLIPS) * copies
    lines = [f"folder: {n} inputs, {rows[0]['frames']} input frames (model estimator, no exports)", "",
             "| run | batch s | input frames/s | x -j 1 | cluster start s | frames/s incl. start | "
             "overhead s/input |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        start = "-" if r["startup"] is None else f"{r['startup']:.1f}"
        lines.append(f"| {r['name']} | {r['wall']:.1f} | {r['fps']:.2f} | {r['fps'] / base:.2f} | {start} | "
                     f"{r['fps_total']:.2f} | {r['overhead']:.2f} |")
    ray1 = next(r for r in rows if r["name"].startswith("--ray local, 1"))
    lines += ["", f"per-task overhead: empty Ray task round trip {1000 * round_trips[1]:.1f} ms (1 CPU), "
              f"{1000 * round_trips[2]:.1f} ms (2 CPUs); per input of the batch on 1 CPU "
              f"{ray1['overhead'] - rows[0]['overhead']:.2f} s more than -j 1 "
              "(worker start-up and imports, staging, progress reports)",
              f"ratios: --ray local 2 CPUs / -j 2 = {rows[3]['fps'] / rows[1]['fps']:.2f}; "
              f"--ray local 1 CPU / -j 1 = {rows[2]['fps'] / rows[0]['fps']:.2f}; "
              f"2 / 1 CPUs on Ray = {rows[3]['fps'] / rows[2]['fps']:.2f}; -j 2 / -j 1 = {rows[1]['fps'] / base:.2f}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one copy of the clips, 15 frames each")
    ap.add_argument("--copies", type=int, default=None, help="copies of the 3 test clips (default 2)")
    args = ap.parse_args(argv)
    copies = args.copies or (1 if args.quick else 2)
    print(run(copies, max_frames=15 if args.quick else None))


if __name__ == "__main__":
    main()
