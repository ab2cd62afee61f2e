"""Batch processing: expand inputs, run them (optionally in parallel processes), report.

One failing input never stops the others; each gets a one-line summary. Stills (photos,
1-frame videos) also get a line in `summary.jsonl` in their output folder. Two things do
stop a batch, cleanly (see `track.interrupt` and `track.outputs`):
- Ctrl-C / SIGTERM: the inputs in progress are stopped (decoder and worker processes
  ended) and their partial outputs removed; `BatchStopped` says how many inputs were done,
  stopped and not started.
- An output folder that cannot take results (full disk, read-only): `BatchStopped` too,
  carrying the `OutputError`.
Inputs whose motion file exists are skipped, so running the same command again resumes.
"""
from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Callable, Iterable

from ..errors import HandmocapError, OutputError
from . import interrupt
from .interrupt import Interrupted
from .outputs import discard_partial
from .pipeline import InputResult, TrackOptions, output_stem, process_input

# seconds a worker gets to clean up after SIGTERM before it is killed
_WORKER_GRACE_S = 3.0


class BatchStopped(HandmocapError):
    """A batch stopped before its end, by a signal (`signum`) or an output error (`error`)."""

    def __init__(self, results: list[InputResult], partial: int, not_started: int,
                 signum: int | None = None, error: OutputError | None = None):
        self.results, self.partial, self.not_started = results, partial, not_started
        self.signum, self.error = signum, error
        super().__init__(self.line())

    @property
    def done(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> int:
        return sum(not r.ok for r in self.results)

    @property
    def exit_code(self) -> int:
        return interrupt.exit_code(self.signum) if self.signum is not None else 1

    def line(self) -> str:
        if self.signum is not None:
            return interrupt.interrupted_line(self.done, self.partial, self.not_started, self.failed)
        return (f"{self.error}; stopped: {self.done} done, {self.partial} partial removed, "
                f"{self.not_started} not started")


def expand_inputs(paths: Iterable[Path], recursive: bool = True,
                  image_folders: str = "auto") -> list[tuple[Path, Path | None, str | None]]:
    """(input, root folder its outputs mirror from, error) for every given path and every
    entry found in folders; entries that cannot be used (missing paths, links to nothing,
    folders that cannot be listed) come back with their error so the batch reports them
    and goes on.

    Photos found in a given folder mirror from its parent, so a photo folder's outputs keep
    its name: photos/a.jpg -> OUT/photos/a.motion.npz (videos/clip.mp4 -> OUT/clip...).
    """
    from ..video import IMAGE_EXTENSIONS, find_inputs

    items = []
    for f in find_inputs(list(paths), recursive=recursive, image_folders=image_folders):
        root = f.root
        if root is not None and f.error is None and f.path.is_file() and f.path.suffix.lower() in IMAGE_EXTENSIONS:
            root = root.parent
        items.append((f.path, root, None if f.error is None else f"{f.path}: {f.error}"))
    return items


def plan_batch(paths: Iterable[Path], recursive: bool, echo: Callable[[str], None], image_folders: str = "auto"
               ) -> tuple[list, dict[int, InputResult], list[tuple[int, Path, Path | None]]]:
    """Expand the inputs and report at once those that cannot be processed.

    Returns (items of `expand_inputs`, {index: failed InputResult}, [(index, input, root
    folder)] to process); shared by the local and the Ray runner so both report the same lines.
    """
    items = expand_inputs(paths, recursive, image_folders)
    results: dict[int, InputResult] = {}
    todo = []
    for i, (path, root, error) in enumerate(items):
        if error:
            results[i] = InputResult(path, ok=False, error=error)
            echo(results[i].summary())
        else:
            todo.append((i, path, root))
    return items, results, todo


def _progress_bar():
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    import sys

    # only on a terminal: piped into a file or a log, the summary lines are the output
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} frames/s"), TimeRemainingColumn(), transient=True,
                    disable=not sys.stdout.isatty())


def run_batch(paths: Iterable[Path], out_dir: Path, options: TrackOptions, exports: list[str],
              jobs: int | None = 1, recursive: bool = True, overwrite: bool = False,
              echo: Callable[[str], None] = print, image_folders: str = "auto",
              on_progress: Callable[[Path, int, int], None] | None = None) -> list[InputResult]:
    """Process every input; returns one `InputResult` per input, in input order.

    jobs: processes working at once; None: `jobs.default_jobs` (cores, inputs, memory).
    on_progress(input, frames_done, frames_total) is called while an input decodes (jobs=1).

    image_folders: "auto" (numbered frames of one size are a sequence, other image folders
    photos: `video.image_folders`), "stills" or "sequence".

    Raises:
        BatchStopped: on SIGINT/SIGTERM (first signal; a second one exits at once) or
            when the output folder fails; partial outputs are removed first.
    """
    out_dir = Path(out_dir)
    items, results, todo = plan_batch(paths, recursive, echo, image_folders)
    if jobs is None:
        from .jobs import default_jobs

        jobs = default_jobs(len(todo))
    in_flight: dict[int, tuple[Path, Path]] = {}  # input index -> (input, output stem) while in progress
    started = time.time()
    with interrupt.catch_interrupts():
        try:
            if jobs <= 1 or len(todo) <= 1:
                _run_serial(todo, out_dir, options, exports, overwrite, results, in_flight, echo, on_progress)
            else:
                _run_parallel(todo, out_dir, options, exports, overwrite, jobs, results, in_flight, echo)
        except Interrupted as exc:
            interrupt.stop_raising()  # a second Ctrl-C now exits at once
            stopped = _stopped(results, in_flight, len(items), started, echo, signum=exc.signum)
            write_still_summaries(items, results, out_dir)
            raise stopped from None
        except OutputError as exc:
            interrupt.stop_raising()
            raise _stopped(results, in_flight, len(items), started, echo, error=exc) from None
    write_still_summaries(items, results, out_dir)
    return [results[i] for i in sorted(results)]


def _stopped(results: dict, in_flight: dict, total: int, started: float, echo, signum=None,
             error=None) -> BatchStopped:
    """Remove the partial outputs of the inputs in progress; an input that got all its
    outputs into place while the batch was stopping counts as done."""
    from ..motion import motion_paths

    partial = 0
    for i, (path, stem) in sorted(in_flight.items()):
        discard_partial(stem)
        npz = motion_paths(stem)[0]
        try:
            finished = npz.stat().st_mtime >= started - 1.0
        except OSError:
            finished = False
        if finished and error is None:
            results[i] = InputResult(path, ok=True, outputs={"motion": [npz]}, note="finished while stopping")
            echo(f"{path.name}: finished while the batch was stopping")
        else:
            partial += 1
    done = [results[i] for i in sorted(results)]
    return BatchStopped(done, partial=partial, not_started=total - len(done) - partial, signum=signum, error=error)


def _finish(i: int, result: InputResult, results: dict, in_flight: dict, echo) -> None:
    if interrupt.received() is not None:  # a signal beat this result: it counts as stopped
        raise Interrupted(interrupt.received())
    if result.fatal:  # counted with the stopped inputs: its partial outputs are gone
        raise OutputError(None, result.error or "the output folder failed")
    in_flight.pop(i, None)
    results[i] = result
    echo(result.summary())


def _run_serial(todo, out_dir, options, exports, overwrite, results, in_flight, echo, on_progress=None) -> None:
    from ..detect.mediapipe_hands import MediaPipeHandDetector  # noqa: F401 (fail early)

    with _progress_bar() as bar:
        for i, path, root in todo:
            in_flight[i] = (path, output_stem(out_dir, path, root))
            task = bar.add_task(path.name, total=None, rate="-")
            t0 = time.perf_counter()

            def progress(done, total, task=task, t0=t0, path=path):
                bar.update(task, completed=done, total=total or None,
                           rate=f"{done / max(time.perf_counter() - t0, 1e-9):.1f}")
                if on_progress:
                    on_progress(path, done, total)

            result = process_input(path, out_dir, options, exports, overwrite, root, progress=progress)
            bar.remove_task(task)
            _finish(i, result, results, in_flight, echo)


def _work(path, out_dir, options, exports, overwrite, root) -> InputResult:
    """One input in a worker process; SIGTERM from the parent stops it after clean-up."""
    import os

    with interrupt.worker_task():
        try:
            return process_input(path, out_dir, options, exports, overwrite, root)
        except Interrupted as exc:  # process_input removed the partial outputs
            os._exit(exc.exit_code)


# imported once by the fork server, so each worker forked from it starts with them loaded
_WORKER_PRELOAD = ["handmocap.track.pipeline", "torch", "cv2", "mediapipe"]


def _start_worker(log_level: int, log_format: str | None) -> None:
    """Process-pool initializer: the signal rules of `interrupt.init_worker`, and the
    parent's logging (a worker from the fork server does not inherit it)."""
    import logging

    interrupt.init_worker()
    if log_format is not None:
        logging.basicConfig(level=log_level, format=log_format)


def _pool(jobs: int):
    """A process pool whose workers fork from a fork server: a clean process that imported
    the stages once. Forked from this process, a worker would inherit MediaPipe's threads
    and locks whenever this process has run a detector already (a library caller's earlier
    input): it then aborts at its first detection (absl's mutex check)."""
    import logging
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_WORKER_PRELOAD)
    root = logging.getLogger()
    handler = next((h for h in root.handlers if h.formatter is not None), None)
    log_format = handler.formatter._fmt if handler is not None else None
    return ProcessPoolExecutor(max_workers=jobs, mp_context=context, initializer=_start_worker,
                               initargs=(root.level, log_format))


def _run_parallel(todo, out_dir, options, exports, overwrite, jobs, results, in_flight, echo) -> None:
    from concurrent.futures import FIRST_COMPLETED, wait
    from concurrent.futures.process import BrokenProcessPool

    pending = deque(todo)
    pool = _pool(jobs)
    running: dict = {}  # future -> (i, path, root); at most `jobs`, so each one is working
    clean = False
    try:
        while pending or running:
            while pending and len(running) < jobs:
                i, path, root = pending.popleft()
                in_flight[i] = (path, output_stem(out_dir, path, root))
                running[pool.submit(_work, path, out_dir, options, exports, overwrite, root)] = (i, path, root)
                for proc in (getattr(pool, "_processes", None) or {}).values():
                    interrupt.register_child(proc.pid)
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            broken = False
            for fut in finished:
                i, path, root = running.pop(fut)
                try:
                    result = fut.result()
                except BrokenProcessPool:
                    broken = True
                    result = InputResult(path, ok=False, error=f"{path}: the worker process died "
                                                               "(killed, or out of memory)")
                except Exception as exc:  # noqa: BLE001 (a bug in a worker: one line + log)
                    from .errorlog import record_internal_error

                    result = InputResult(path, ok=False, error=f"{path}: {record_internal_error(exc, str(path))}")
                _finish(i, result, results, in_flight, echo)
            if broken:  # start a fresh pool for the rest
                _stop_pool(pool)
                pool = _pool(jobs)
        clean = True
    finally:
        if clean:
            pool.shutdown(wait=True)
        else:
            _stop_pool(pool)


def _stop_pool(pool) -> None:
    """End every worker: SIGTERM (each removes its partial outputs), SIGKILL after a grace
    period. The decoders they started end with them (their pipes close). Then the pool's
    manager thread is waited for: while it closes its wake-up pipe, the interpreter's exit hook
    for process pools may write to it (CPython 3.11: "Exception ignored ... Bad file
    descriptor" after a batch stopped on a full disk)."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    manager = getattr(pool, "_executor_manager_thread", None)  # shutdown() forgets it
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    deadline = time.monotonic() + _WORKER_GRACE_S
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            p.kill()
            p.join(timeout=1.0)
    if manager is not None:
        manager.join(timeout=_WORKER_GRACE_S)


def write_still_summaries(items, results: dict[int, InputResult], out_dir: Path) -> None:
    """summary.jsonl in every output folder that got stills: tracked ones, ones done by an
    earlier run, and photos that failed (with their error)."""
    from ..video import IMAGE_EXTENSIONS
    from .stills import error_record, write_summary

    by_folder: dict[Path, list[dict]] = {}
    for i, (path, root, _) in enumerate(items):
        r = results.get(i)
        if r is None:
            continue
        if r.still is not None:
            record = r.still
        elif not r.ok and path.suffix.lower() in IMAGE_EXTENSIONS:
            record = error_record(path, r.error or "failed")
        else:
            continue
        by_folder.setdefault(output_stem(out_dir, path, root).parent, []).append(record)
    for folder, records in by_folder.items():
        write_summary(folder, records)
