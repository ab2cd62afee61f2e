"""Batch processing: expand inputs, run them (optionally in parallel processes), report.

One failing input never stops the others; each gets a one-line summary.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable

from ..errors import HandmocapError
from .pipeline import InputResult, TrackOptions, process_input


def expand_inputs(paths: Iterable[Path], recursive: bool = True) -> list[tuple[Path, Path | None, str | None]]:
    """(input, root folder it came from, error) for every given path; missing paths come
    back with their error so the batch reports them and goes on."""
    from ..video import list_inputs

    items = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            items.append((p, None, f"{p}: no such file or folder"))
            continue
        try:
            found = list_inputs([p], recursive=recursive)
        except HandmocapError as exc:
            items.append((p, None, str(exc)))
            continue
        if not found:
            items.append((p, None, f"{p}: no videos or images found"))
        root = p if p.is_dir() else None
        items.extend((f, root if f != p else None, None) for f in found)
    return items


def _progress_bar():
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} frames/s"), TimeRemainingColumn(), transient=True)


def run_batch(paths: Iterable[Path], out_dir: Path, options: TrackOptions, exports: list[str],
              jobs: int | None = 1, recursive: bool = True, overwrite: bool = False,
              echo: Callable[[str], None] = print) -> list[InputResult]:
    """Process every input; returns one `InputResult` per input, in input order.

    jobs: processes working at once; None: `jobs.default_jobs` (cores, inputs, memory)."""
    import time

    out_dir = Path(out_dir)
    items = expand_inputs(paths, recursive)
    results: dict[int, InputResult] = {}
    todo = []
    for i, (path, root, error) in enumerate(items):
        if error:
            results[i] = InputResult(path, ok=False, error=error)
            echo(results[i].summary())
        else:
            todo.append((i, path, root))
    if jobs is None:
        from .jobs import default_jobs

        jobs = default_jobs(len(todo))
    if jobs <= 1:
        from ..detect.mediapipe_hands import MediaPipeHandDetector  # noqa: F401 (fail early)

        with _progress_bar() as bar:
            for i, path, root in todo:
                task = bar.add_task(path.name, total=None, rate="-")
                t0 = time.perf_counter()

                def progress(done, total, task=task, t0=t0):
                    bar.update(task, completed=done, total=total or None,
                               rate=f"{done / max(time.perf_counter() - t0, 1e-9):.1f}")

                results[i] = process_input(path, out_dir, options, exports, overwrite, root, progress=progress)
                bar.remove_task(task)
                echo(results[i].summary())
    else:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            futures = {pool.submit(process_input, path, out_dir, options, exports, overwrite, root): i
                       for i, path, root in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                echo(results[i].summary())
    return [results[i] for i in sorted(results)]
