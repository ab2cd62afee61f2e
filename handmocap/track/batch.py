"""Batch processing: expand inputs, run them (optionally in parallel processes), report.

One failing input never stops the others; each gets a one-line summary. Stills (photos,
1-frame videos) also get a line in `summary.jsonl` in their output folder.
"""
from __future__ import annotations

from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Callable, Iterable

from ..errors import HandmocapError
from .pipeline import InputResult, TrackOptions, process_input


def expand_inputs(paths: Iterable[Path], recursive: bool = True,
                  image_folders: str = "auto") -> list[tuple[Path, Path | None, str | None]]:
    """(input, root folder its outputs mirror from, error) for every given path; missing
    paths come back with their error so the batch reports them and goes on.

    Photos found in a given folder mirror from its parent, so a photo folder's outputs keep
    its name: photos/a.jpg -> OUT/photos/a.motion.npz (videos/clip.mp4 -> OUT/clip...).
    """
    from ..video import IMAGE_EXTENSIONS, list_inputs

    items = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            items.append((p, None, f"{p}: no such file or folder"))
            continue
        try:
            found = list_inputs([p], recursive=recursive, image_folders=image_folders)
        except HandmocapError as exc:
            items.append((p, None, str(exc)))
            continue
        if not found:
            items.append((p, None, f"{p}: no videos or images found"))
        root = p if p.is_dir() else None
        for f in found:
            photo = root is not None and f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
            items.append((f, (root.parent if photo else root) if f != p else None, None))
    return items


def _progress_bar():
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeRemainingColumn)

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]} frames/s"), TimeRemainingColumn(), transient=True)


def run_batch(paths: Iterable[Path], out_dir: Path, options: TrackOptions, exports: list[str],
              jobs: int = 1, recursive: bool = True, overwrite: bool = False,
              echo: Callable[[str], None] = print, image_folders: str = "auto") -> list[InputResult]:
    """Process every input; returns one `InputResult` per input, in input order.

    image_folders: "auto" (numbered frames of one size are a sequence, other image folders
    photos: `video.image_folders`), "stills" or "sequence".
    """
    import time

    out_dir = Path(out_dir)
    items = expand_inputs(paths, recursive, image_folders)
    results: dict[int, InputResult] = {}
    todo = []
    for i, (path, root, error) in enumerate(items):
        if error:
            results[i] = InputResult(path, ok=False, error=error)
            echo(results[i].summary())
        else:
            todo.append((i, path, root))
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
    _write_still_summaries(items, results, out_dir)
    return [results[i] for i in sorted(results)]


def _write_still_summaries(items, results: dict[int, InputResult], out_dir: Path) -> None:
    """summary.jsonl in every output folder that got stills: tracked ones, ones done by an
    earlier run, and photos that failed (with their error)."""
    from ..video import IMAGE_EXTENSIONS
    from .pipeline import output_stem
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
