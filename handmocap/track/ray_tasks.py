"""What runs on the Ray workers of a cluster batch (see `ray_runner`): the per-node probe,
the progress board actor, and the task that tracks one input into its staging folder and
publishes the files when the input is done. Nothing here imports ray at module level.
"""
from __future__ import annotations

import dataclasses
import os
import shutil
import socket
import time
import uuid
from pathlib import Path

from .pipeline import InputResult, TrackOptions, process_input

PROGRESS_INTERVAL_S = 0.5


def probe_node(out_dir: str, run_dir: str, inputs: list[str]) -> dict:
    """On one node: can it write to out_dir, see the inputs, import handmocap?"""
    import handmocap

    token = uuid.uuid4().hex
    path = Path(run_dir) / f"probe-{token}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(token)
        error = None
    except OSError as exc:
        error = f"{type(exc).__name__}: {exc.strerror or exc}"
    return {"host": socket.gethostname(), "file": str(path), "token": token, "error": error,
            "missing": [p for p in inputs if not os.path.exists(p)], "version": handmocap.__version__}


def progress_board_class():
    """A Ray actor class the tasks report to: attempts started and frames done per input.

    Built in a function so that Ray ships it by value: the actor's process then starts
    without importing handmocap (torch), and is ready before the first task reports.
    """

    class ProgressBoard:
        def __init__(self):
            self.attempts: dict[int, list[tuple[str, int]]] = {}
            self.frames: dict[int, tuple[int, int]] = {}

        def started(self, index: int, host: str, pid: int) -> None:
            self.attempts.setdefault(index, []).append((host, pid))
            self.frames[index] = (0, 0)

        def frame(self, index: int, done: int, total: int) -> None:
            self.frames[index] = (done, total)

        def snapshot(self) -> tuple[dict, dict]:
            return self.attempts, self.frames

    return ProgressBoard


def _publish(staging: Path, out_dir: Path, result: InputResult) -> InputResult:
    """Move every file of a finished input from `staging` to its final place; the motion
    file goes last so that its presence keeps meaning "done" (resume)."""
    motion = {Path(p) for p in result.outputs.get("motion", [])}
    motion |= {p.with_suffix(".json") for p in motion}
    files = [p for p in sorted(staging.rglob("*")) if p.is_file() and p not in motion]
    files += sorted(p for p in motion if p.exists())[::-1]  # .json sidecar, then .npz
    for src in files:
        dst = out_dir / src.relative_to(staging)
        dst.parent.mkdir(parents=True, exist_ok=True)
        os.replace(src, dst)
    outputs = {k: [out_dir / Path(p).relative_to(staging) for p in v] for k, v in result.outputs.items()}
    shutil.rmtree(staging, ignore_errors=True)
    return dataclasses.replace(result, outputs=outputs)


def track_task(index: int, path: str, root: str | None, cwd: str, out_dir: str, staging: str,
               options: TrackOptions, exports: list[str], board) -> InputResult:
    """One input on a worker: `process_input` into the staging folder, then publish.

    Runs in the driver's working folder (shared storage) so that relative input paths, and
    with them the motion file's `source` and the error lines, read as in a local run.
    """
    from ray import get as ray_get

    if os.path.isdir(cwd):
        os.chdir(cwd)
    else:  # the driver's folder is not shared: the same file by its absolute name
        path, root = os.path.join(cwd, path), None if root is None else os.path.join(cwd, root)
    staging_dir, final_dir = Path(staging), Path(out_dir)
    shutil.rmtree(staging_dir, ignore_errors=True)  # what a dead earlier attempt left
    staging_dir.mkdir(parents=True)
    try:  # wait for the board to have it: a worker killed next must still count as an attempt
        ray_get(board.started.remote(index, socket.gethostname(), os.getpid()), timeout=60)
    except Exception:  # progress is best effort
        pass
    last = [0.0]

    def progress(done, total):
        now = time.monotonic()
        if now - last[0] >= PROGRESS_INTERVAL_S or done == total:
            last[0] = now
            board.frame.remote(index, done, total or 0)

    result = process_input(Path(path), staging_dir, options, exports, overwrite=True,
                           root=None if root is None else Path(root), progress=progress, final_dir=final_dir)
    if not result.ok:
        shutil.rmtree(staging_dir, ignore_errors=True)
        return result
    return _publish(staging_dir, final_dir, result)
