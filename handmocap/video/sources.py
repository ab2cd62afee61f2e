"""Which inputs a list of paths stands for.

Rules (`list_inputs`):
- A file given by name is one input, whatever its extension (a bad one fails later, in
  `probe`, with its own one-line error).
- A folder that directly holds videos: each video is one input (natural sort order); any
  images lying beside them are ignored (with a logged warning).
- A folder that directly holds images and no videos is either ONE input, an image
  sequence (numbered frames of one size: see `image_folders` for the exact rule), or a
  photo folder: then each image is one input, a still. `image_folders="stills"` /
  `"sequence"` force either.
- Sub-folders are searched the same way when `recursive` (hidden files and folders, whose
  names start with ".", are skipped), so a folder of shots, each a folder of frames, gives
  one image-sequence input per shot.
- A folder with nothing usable contributes no input (the caller reports it); a path that
  does not exist raises `InputError`.

`find_inputs` applies the same rules but reports instead of raising or dropping: every
path given and every entry of a searched folder with a video or image extension (links
that lead nowhere included) and every sub-folder that cannot be listed comes back, with
its reason, so a batch gives each one a line.
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..errors import InputError
from .image_folders import IMAGE_FOLDER_MODES, is_image_sequence
from .probe import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, natural_key

log = logging.getLogger(__name__)


def list_inputs(paths: Iterable[str | Path] | str | Path, recursive: bool = True,
                extensions: Iterable[str] | None = None, image_folders: str = "auto") -> list[Path]:
    """Expand files and folders into the list of inputs, in order, without duplicates.

    Args:
        paths: files and/or folders (a single path is accepted too).
        recursive: search sub-folders.
        extensions: video file extensions to look for in folders (".mp4", "mov", ...);
            default `VIDEO_EXTENSIONS`. Image extensions are `IMAGE_EXTENSIONS`.
        image_folders: "auto", "stills" or "sequence" (see `image_folders.is_image_sequence`).

    Returns:
        Video files, image files (given by name or from photo folders), and image-sequence
        folders.

    Raises:
        InputError: a path does not exist or a folder cannot be listed.
    """
    found = []
    for entry in find_inputs(paths, recursive, extensions, image_folders):
        if entry.error is not None and entry.kind != "empty" and (entry.kind == "folder" or entry.given):
            raise InputError(entry.path, entry.error)
        if entry.error is None:
            found.append(entry.path)
    return found


@dataclass(frozen=True)
class FoundInput:
    """One input, or one entry that looks like an input but cannot be used.

    path: the input; root: the folder given by the user it was found in (None when the
    path was given itself); error: why it cannot be used (None: usable); kind: "input",
    "link" (a symbolic link to nothing), "folder" (a folder that cannot be listed),
    "empty" (a folder given with no inputs) or "special" (not a regular file); given: named by the user rather than found.
    """

    path: Path
    root: Path | None = None
    error: str | None = None
    kind: str = "input"
    given: bool = False


def find_inputs(paths: Iterable[str | Path] | str | Path, recursive: bool = True,
                extensions: Iterable[str] | None = None, image_folders: str = "auto") -> list[FoundInput]:
    """Like `list_inputs`, but never raises: every path given, and every entry of a
    searched folder that has a video or image extension (or is a sub-folder), comes back,
    with the reason when it cannot be used: a path that does not exist, a link that
    leads nowhere, a folder that cannot be listed, a folder with no inputs."""
    if isinstance(paths, (str, Path)):
        paths = [paths]
    video_ext = VIDEO_EXTENSIONS if extensions is None else frozenset(
        e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    if image_folders not in IMAGE_FOLDER_MODES:
        raise InputError(None, f"image_folders must be one of {', '.join(IMAGE_FOLDER_MODES)}, got {image_folders!r}")
    found: list[FoundInput] = []
    for p in map(Path, paths):
        if p.is_dir():
            entries = _scan(p, recursive, video_ext, p, set(), image_folders)
            if not entries:
                found.append(FoundInput(p, None, "no videos or images found", "empty", True))
            elif len(entries) == 1 and entries[0].path == p:
                found.append(FoundInput(p, None, entries[0].error, entries[0].kind, True))
            else:
                found.extend(entries)
        elif p.exists():
            found.append(FoundInput(p, None, None, "input", True))
        elif p.is_symlink():
            found.append(FoundInput(p, None, _broken_link(p), "link", True))
        else:
            found.append(FoundInput(p, None, "no such file or folder", "input", True))
    seen: set[Path] = set()
    unique = []
    for f in found:
        key = f.path.resolve() if f.error is None else f.path.absolute()
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique


def _broken_link(p: Path) -> str:
    try:
        target = os.readlink(p)
    except OSError:
        return "a link that leads nowhere"
    return f"a link to nothing: {target} does not exist (or the links loop)"


def _scan(folder: Path, recursive: bool, video_ext: frozenset, root: Path, visited: set,
          image_folders: str = "auto") -> list[FoundInput]:
    try:
        real = folder.resolve()
        if real in visited:  # a link back to a folder already searched
            return []
        visited.add(real)
        entries = sorted((e for e in folder.iterdir() if not e.name.startswith(".")), key=natural_key)
    except PermissionError:
        return [FoundInput(folder, root, "permission denied (cannot list the folder)", "folder")]
    except OSError as exc:
        return [FoundInput(folder, root, f"cannot list the folder ({exc.strerror or exc})", "folder")]
    known = video_ext | IMAGE_EXTENSIONS
    files, problems, subfolders = [], [], []
    for e in entries:
        if e.is_dir():
            subfolders.append(e)
        elif e.is_file():
            files.append(e)
        elif e.suffix.lower() in known:
            if e.is_symlink() and not e.exists():
                problems.append(FoundInput(e, root, _broken_link(e), "link"))
            else:
                problems.append(FoundInput(e, root, "not a regular file", "special"))
    videos = [f for f in files if f.suffix.lower() in video_ext]
    images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
    out: list[FoundInput] = []
    if videos:
        out.extend(FoundInput(v, root) for v in videos)
        if images:
            log.warning("%s: %d image(s) beside videos are ignored (put an image sequence in its own "
                        "folder)", folder, len(images))
    elif images:
        if is_image_sequence(images, image_folders):
            out.append(FoundInput(folder, root))
        else:
            out.extend(FoundInput(f, root) for f in images)
    out.extend(problems)
    if recursive:
        for sub in subfolders:
            out.extend(_scan(sub, recursive, video_ext, root, visited, image_folders))
    return out
