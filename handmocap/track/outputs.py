"""Where one input's outputs go, and how they appear there all at once.

Every export of an input (GLB, preview, OBJ folder, FBX, motion file) is first written
into a hidden staging folder beside its final place, `OUT/.STEM.partial/`. Only when all
of them are complete are they moved to their final names (renames on one file system),
the motion file last: its presence marks the input as done (resume). A process killed
while exporting, even by SIGKILL, leaves nothing under the final names; the next run
removes the stale staging folder and redoes the input.

    staging = begin_outputs(stem)              # OUT/.clip.partial/ (fresh)
    ... write staging/clip.glb, staging/clip_obj/, staging/clip.motion.npz ...
    outputs = publish_outputs(staging, stem, outputs)   # now OUT/clip.glb, ...
    discard_partial(stem)                      # on failure or interrupt

Problems of the output folder itself (a file in its way, read-only, full disk) are
`OutputError`s: every later input would hit them too.
"""
from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

from ..errors import OutputError
from . import interrupt

STAGING_SUFFIX = ".partial"
# errors of the output side that no later input can escape
_OUTPUT_ERRNOS = {errno.ENOSPC: "no space left on device", errno.EDQUOT: "disk quota exceeded",
                  errno.EROFS: "read-only file system", errno.EACCES: "permission denied",
                  errno.EPERM: "operation not permitted", errno.ENOTDIR: "a file is in the way of a folder",
                  errno.EEXIST: "a file is in the way of a folder"}


def staging_dir(stem: Path) -> Path:
    """The hidden folder where the outputs of `stem` are written before they are complete."""
    stem = Path(stem)
    return stem.parent / f".{stem.name}{STAGING_SUFFIX}"


def output_error(exc: OSError, where: Path | None = None) -> OutputError:
    """An `OSError` met while writing outputs, as one line naming the path."""
    reason = _OUTPUT_ERRNOS.get(exc.errno) or (exc.strerror or type(exc).__name__).lower()
    path = exc.filename or where
    return OutputError(path, f"cannot write: {reason}")


def is_output_error(exc: OSError, out_dir: Path) -> bool:
    """True when `exc` concerns a path below `out_dir` (or names no path) and is of a kind
    every later input would meet too."""
    if exc.errno not in _OUTPUT_ERRNOS:
        return False
    name = exc.filename
    if name is None:
        return exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS)
    try:
        return Path(os.path.abspath(name)).is_relative_to(Path(os.path.abspath(out_dir)))
    except (TypeError, ValueError):
        return False


def check_output_folder(out_dir: Path) -> None:
    """Raise `OutputError` unless `out_dir` is (or can be made as) a writable folder.
    Writes nothing: the folder is created by the first input that has results."""
    out_dir = Path(out_dir)
    probe = out_dir
    while True:
        if probe.exists() or probe.is_symlink():
            break
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.is_symlink() and not probe.exists():
        raise OutputError(probe, "is a link to nothing (its target does not exist)")
    if not probe.is_dir():
        what = "is a file, not a folder" if probe == out_dir else "is a file, so no folder can be made below it"
        raise OutputError(probe, what)
    if not os.access(probe, os.W_OK | os.X_OK):
        if os.access(probe, os.F_OK) and _read_only_fs(probe):
            raise OutputError(probe, "is on a read-only file system")
        raise OutputError(probe, "is not writable (permission denied)")


def _read_only_fs(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def begin_outputs(stem: Path) -> Path:
    """A fresh, empty staging folder for `stem` (a stale one from a killed run is removed)."""
    staging = staging_dir(stem)
    try:
        discard_partial(stem)
        staging.mkdir(parents=True)
    except OSError as exc:
        raise output_error(exc, staging) from None
    return staging


def _final_entries(staging: Path, stem: Path) -> list[Path]:
    """Top-level entries of the staging folder, the motion file(s) last (npz the very last:
    it is what marks the input done)."""
    def order(p: Path) -> tuple:
        name = p.name
        return (name.endswith(".motion.npz"), name.endswith(".motion.json") or name.endswith(".motion.npz"), name)

    return sorted((p for p in staging.iterdir() if not p.name.startswith(".")), key=order)


def publish_outputs(staging: Path, stem: Path, outputs: dict[str, list[Path]]) -> dict[str, list[Path]]:
    """Move every finished output from `staging` to its final name beside it; returns
    `outputs` with the final paths. Older outputs of the same names are replaced."""
    stem = Path(stem)
    final_dir = stem.parent
    try:
        with interrupt.critical():  # a few renames: not cut in half by Ctrl-C
            for entry in _final_entries(staging, stem):
                _replace(entry, final_dir / entry.name)
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        raise output_error(exc, final_dir) from None
    return {k: [final_dir / Path(p).relative_to(staging) if Path(p).is_relative_to(staging) else Path(p)
                for p in v] for k, v in outputs.items()}


def _replace(src: Path, dst: Path) -> None:
    """Rename `src` to `dst`, replacing a file or a folder (an older OBJ sequence) there."""
    if dst.is_dir() and not dst.is_symlink() or (src.is_dir() and dst.exists()):
        old = dst.with_name(f".{dst.name}.old-{os.getpid()}")
        os.replace(dst, old)
        os.replace(src, dst)
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(src, dst)


def discard_partial(stem: Path) -> bool:
    """Remove the staging folder of `stem`; True when there was one."""
    staging = staging_dir(stem)
    if not (staging.exists() or staging.is_symlink()):
        return False
    if staging.is_dir() and not staging.is_symlink():
        shutil.rmtree(staging, ignore_errors=True)
    else:
        staging.unlink(missing_ok=True)
    return True
