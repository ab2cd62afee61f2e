"""Folder throughput: input frames per second over a folder of clips, `-j 1` against `-j 2`:
the real command, `handmocap track folder/ -j N`, run as a fresh process (start-up included,
as a user sees it)."""
from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def folder_throughput(source: Path, copies: int = 4, jobs=(1, 2), calib: Path | None = None, loops: int = 3) -> dict:
    """{jobs: input frames/s} for a folder holding `copies` copies of `source` played `loops`
    times in a row (so that process start-up, paid once per job, does not dominate)."""
    from .pipeline import looped

    out = {}
    with tempfile.TemporaryDirectory(prefix="handmocap-bench-jobs-") as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        clip = looped(source, loops, Path(tmp) / f"looped{source.suffix}")
        for k in range(copies):
            shutil.copy(clip, folder / f"clip{k}{source.suffix}")
        frames = copies * _frames(clip)
        for j in jobs:
            cmd = [sys.executable, "-m", "handmocap", "track", str(folder), "--out", str(Path(tmp) / f"out{j}"),
                   "-j", str(j), "--export", "glb,preview", "--overwrite"]
            cmd += ["--calib", str(calib)] if calib else []
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, capture_output=True)
            out[j] = frames / (time.perf_counter() - t0)
    return out


def _frames(video: Path) -> int:
    from handmocap.video import probe

    return probe(video).num_frames


def jobs_table(rates: dict, copies: int, clip: str) -> str:
    first = rates[min(rates)]
    rows = [f"Folder of {copies} copies of {clip} (played 3 times in a row), default exports, "
            "`handmocap track folder -j N` as a fresh process:", "",
            "| -j | input frames/s | vs -j 1 |", "|---:|---:|---:|"]
    rows += [f"| {j} | {r:.1f} | {r / first:.2f}x |" for j, r in rates.items()]
    return "\n".join(rows)
