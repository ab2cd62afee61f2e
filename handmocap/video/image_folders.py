"""Is a folder of images one image sequence (a video) or a folder of photos (stills)?

The rule (`is_image_sequence`, mode "auto"): a folder's images are ONE image sequence,
tracked as a video (association across frames, smoothing), when all of these hold:

1. there are at least 2 images;
2. their names are numbered frames: one prefix, a frame number, one extension
   (``frame_0001.png``, ``frame_0002.png`` ...; ``0001.jpg`` ...);
3. they all have the same size (read from the file headers);
4. none carries an EXIF capture time (DateTimeOriginal; JPEG, TIFF and WebP files): numbered
   photos straight from a camera (``IMG_0001.JPG`` ...) are photos, frames written by ffmpeg
   or a renderer are not.

Otherwise every image is a photo: tracked on its own (`handmocap.track.stills`). Mode
"stills" makes every image folder a photo folder, "sequence" makes every one a sequence
(the CLI's ``--stills`` / ``--sequence``). Files Pillow cannot open do not count for rules 3
and 4 (a corrupt frame of a sequence still fails later, naming the frame).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Sequence

from ..camera.exif import EXIF_SUFFIXES
from ..errors import InputError

IMAGE_FOLDER_MODES = ("auto", "stills", "sequence")
_NUMBERED = re.compile(r"^(?P<prefix>.*?)(?P<number>\d+)$")
_IFD_EXIF, _DATETIME_ORIGINAL = 0x8769, 0x9003


def _numbered_frames(images: Sequence[Path]) -> bool:
    """Rule 2: one prefix, one extension, a trailing frame number on every stem."""
    prefixes, suffixes = set(), set()
    for p in images:
        m = _NUMBERED.match(p.stem)
        if m is None:
            return False
        prefixes.add(m["prefix"])
        suffixes.add(p.suffix.lower())
    return len(prefixes) == 1 and len(suffixes) == 1


def _same_size_no_capture_time(images: Sequence[Path]) -> bool:
    """Rules 3 and 4 from the headers (Pillow reads no pixels here); stops at the first miss."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # no Pillow: sizes from decoding, no EXIF check
        from .probe import read_image

        sizes = set()
        for p in images:
            try:
                sizes.add(read_image(p).shape[:2])
            except InputError:
                continue
            if len(sizes) > 1:
                return False
        return True
    size = None
    for p in images:
        try:
            with Image.open(p) as im:
                if size is not None and im.size != size:
                    return False
                size = im.size
                # EXIF of JPEG/TIFF/WebP sits in the header; Pillow would decode a whole PNG
                if p.suffix.lower() in EXIF_SUFFIXES and im.getexif().get_ifd(_IFD_EXIF).get(_DATETIME_ORIGINAL):
                    return False
        except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
            continue
    return True


def is_image_sequence(images: Sequence[Path], mode: str = "auto") -> bool:
    """True when the `images` of one folder (natural order) are one image sequence.

    Args:
        images: the image files directly inside one folder.
        mode: "auto" (the rule of the module docstring), "stills" or "sequence".
    """
    if mode not in IMAGE_FOLDER_MODES:
        raise InputError(None, f"image folder mode must be one of {', '.join(IMAGE_FOLDER_MODES)}, got {mode!r}")
    if mode != "auto":
        return mode == "sequence"
    return len(images) >= 2 and _numbered_frames(images) and _same_size_no_capture_time(images)


__all__ = ["IMAGE_FOLDER_MODES", "is_image_sequence"]
