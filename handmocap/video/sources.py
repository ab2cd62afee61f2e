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
"""
from __future__ import annotations

import logging
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
    if isinstance(paths, (str, Path)):
        paths = [paths]
    video_ext = VIDEO_EXTENSIONS if extensions is None else frozenset(
        e.lower() if e.startswith(".") else "." + e.lower() for e in extensions)
    if image_folders not in IMAGE_FOLDER_MODES:
        raise InputError(None, f"image_folders must be one of {', '.join(IMAGE_FOLDER_MODES)}, got {image_folders!r}")
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found.extend(_scan(p, recursive, video_ext, image_folders))
        elif p.exists():
            found.append(p)
        else:
            raise InputError(p, "no such file or folder")
    seen: set[Path] = set()
    unique = []
    for p in found:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def _scan(folder: Path, recursive: bool, video_ext: frozenset, image_folders: str = "auto") -> list[Path]:
    try:
        entries = sorted((e for e in folder.iterdir() if not e.name.startswith(".")), key=natural_key)
    except PermissionError:
        raise InputError(folder, "permission denied (cannot list the folder)") from None
    files = [e for e in entries if e.is_file()]
    videos = [f for f in files if f.suffix.lower() in video_ext]
    images = [f for f in files if f.suffix.lower() in IMAGE_EXTENSIONS]
    out: list[Path] = []
    if videos:
        out.extend(videos)
        if images:
            log.warning("%s: %d image(s) beside videos are ignored (put an image sequence in its own "
                        "folder)", folder, len(images))
    elif images:
        out.extend([folder] if is_image_sequence(images, image_folders) else images)
    if recursive:
        for sub in (e for e in entries if e.is_dir()):
            out.extend(_scan(sub, recursive, video_ext, image_folders))
    return out
