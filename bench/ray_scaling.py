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
import json
import os
import shutil
import statistics
import subprocess
import sys
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


def _task_round_trip(ray, n: int = 20) -> float:
    """Median seconds for one empty task, submitted and fetched one at a time (warm worker)."""
    def noop():  # defined here so Ray ships it by value (bench/ is not installed on workers)
        return 0

    task = ray.remote(num_cpus=1)(noop)
    ray.get(task.remote())  # starts the worker
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        ray.get(task.remote())
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def one(config: str, folder: Path, out: Path, max_frames: int | None) -> dict:
    """Track `folder` one way in this (fresh) process; figures as a dict."""
    from handmocap.track.batch import run_batch
    from handmocap.track.pipeline import TrackOptions
    from handmocap.track.ray_runner import connect, run_batch_ray

    options = TrackOptions(max_frames=max_frames)
    quiet = lambda line: None  # noqa: E731
    kind, n = config.split(":")
    startup = round_trip = None
    t0 = time.perf_counter()
    if kind == "jobs":
        results = run_batch([folder], out, options, [], jobs=int(n), echo=quiet)
        wall = time.perf_counter() - t0
    else:
        with connect("local", num_cpus=int(n)) as ray:
            startup = time.perf_counter() - t0
            t1 = time.perf_counter()
            results = run_batch_ray([folder], out, options, [], address="local", echo=quiet, warn=quiet)
            wall = time.perf_counter() - t1
            round_trip = _task_round_trip(ray)
    bad = [r.error for r in results if not r.ok]
    if bad:
        raise SystemExit(f"benchmark input failed: {bad[0]}")
    return {"frames": sum(r.frames for r in results), "inputs": len(results), "wall": wall,
            "inside": sum(r.seconds for r in results), "startup": startup, "round_trip": round_trip}


CONFIGS = [("-j 1", "jobs:1"), ("-j 2", "jobs:2"), ("--ray local, 1 CPU", "ray:1"), ("--ray local, 2 CPUs", "ray:2")]


def run(copies: int = 2, max_frames: int | None = None, repeats: int = 2, worker_niceness: int | None = None) -> str:
    """All four configurations `repeats` times, interleaved (a shared machine's load drifts);
    each figure is from the configuration's fastest repeat.

    Ray starts its workers at niceness 15 (so that its own services stay responsive); on a
    machine busy with other work that alone slows the Ray runs against `-j N` processes at
    niceness 0. `worker_niceness` (RAY_worker_niceness) sets it for a like-for-like run.
    """
    best: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="handmocap_ray_bench_") as tmp:
        tmp = Path(tmp)
        folder = _folder(tmp, copies)
        for rep in range(repeats):
            for name, config in CONFIGS:  # each in its own process, as users run them
                out = tmp / f"{config.replace(':', '')}_{rep}"
                cmd = [sys.executable, "-m", "bench.ray_scaling", "--one", config, "--folder", str(folder),
                       "--out", str(out), *(["--max-frames", str(max_frames)] if max_frames else [])]
                env = dict(os.environ, GLOG_minloglevel="2")
                if worker_niceness is not None:
                    env["RAY_worker_niceness"] = str(worker_niceness)
                proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
                if proc.returncode:
                    raise SystemExit(f"{name} failed:\n{proc.stderr[-2000:]}")
                r = json.loads(proc.stdout.strip().splitlines()[-1])
                r.update(name=name, fps=r["frames"] / r["wall"],
                         fps_total=r["frames"] / (r["wall"] + (r["startup"] or 0.0)),
                         overhead=(r["wall"] * (2 if config.endswith(":2") else 1) - r["inside"]) / r["inputs"])
                if name not in best or r["wall"] < best[name]["wall"]:
                    best[name] = r
    rows = [best[name] for name, _ in CONFIGS]
    j1, j2, r1, r2 = rows
    nice = "Ray's default (15)" if worker_niceness is None else worker_niceness
    lines = [f"folder: {j1['inputs']} inputs, {j1['frames']} input frames (model estimator, no exports); "
             f"best of {repeats}; Ray worker niceness {nice}, this process {os.nice(0)}", "",
             "| run | batch s | input frames/s | x -j 1 | cluster start s | frames/s incl. start | "
             "overhead s/input |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        start = "-" if r["startup"] is None else f"{r['startup']:.1f}"
        lines.append(f"| {r['name']} | {r['wall']:.1f} | {r['fps']:.2f} | {r['fps'] / j1['fps']:.2f} | {start} | "
                     f"{r['fps_total']:.2f} | {r['overhead']:.2f} |")
    lines += ["", f"per-task overhead: an empty Ray task's round trip {1000 * r1['round_trip']:.1f} ms (1 CPU), "
              f"{1000 * r2['round_trip']:.1f} ms (2 CPUs); per input of the batch, on 1 CPU, "
              f"{r1['overhead'] - j1['overhead']:.2f} s more than -j 1 (worker start-up and imports, staging, "
              "progress reports)",
              f"ratios: --ray local 2 CPUs / -j 2 = {r2['fps'] / j2['fps']:.2f}; --ray local 1 CPU / -j 1 = "
              f"{r1['fps'] / j1['fps']:.2f}; Ray 2 CPUs / 1 CPU = {r2['fps'] / r1['fps']:.2f}; "
              f"-j 2 / -j 1 = {j2['fps'] / j1['fps']:.2f}"]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="one copy of the clips, 15 frames each")
    ap.add_argument("--copies", type=int, default=None, help="copies of the 3 test clips (default 2)")
    ap.add_argument("--repeats", type=int, default=None, help="runs of each configuration (default 2, quick 1)")
    ap.add_argument("--worker-niceness", type=int, default=None,
                    help="Ray workers' niceness (default: Ray's 15); 0 compares like for like with -j on a busy machine")
    ap.add_argument("--one", help=argparse.SUPPRESS)  # internal: one configuration, JSON out
    ap.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--max-frames", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:
        print(json.dumps(one(args.one, args.folder, args.out, args.max_frames)))
        return
    copies = args.copies or (1 if args.quick else 2)
    print(run(copies, max_frames=15 if args.quick else None, repeats=args.repeats or (1 if args.quick else 2),
              worker_niceness=args.worker_niceness))


if __name__ == "__main__":
    main()
