"""Intrinsics from a photo's EXIF focal-length tags (Pillow reads them from the header of
JPEG, TIFF and WebP files; no pixels decoded).

Two ways, the more exact first:

1. ``FocalLength`` (mm) with the sensor's pixel pitch from ``FocalPlaneXResolution`` /
   ``FocalPlaneYResolution`` and ``FocalPlaneResolutionUnit`` (pixels per inch, cm, mm or
   um on the sensor; DSLRs and mirrorless cameras write them):
       fx = FocalLength * FocalPlaneXResolution / unit_mm
   scaled by the ratio of the image's size to ``PixelXDimension``/``PixelYDimension`` when
   the photo was resized after capture (the focal-plane tags describe the sensor image).
2. ``FocalLengthIn35mmFilm`` (phones and most compacts write it): the focal length a 36x24 mm
   frame would need for the same field of view, across the diagonal (the crop-factor
   definition):
       f_px = FocalLengthIn35mmFilm * hypot(W, H) / hypot(36, 24)

The principal point is the image centre (pixel-centre convention). EXIF stores sizes in the
stored orientation while handmocap works on upright images; a focal length in pixels does
not depend on the orientation, so sizes are compared side against side, larger with larger.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from .intrinsics import Intrinsics

FULL_FRAME_DIAGONAL_MM = math.hypot(36.0, 24.0)  # 43.27 mm
EXIF_SUFFIXES = frozenset({".jpg", ".jpeg", ".tif", ".tiff", ".webp"})  # where cameras write EXIF
# FocalPlaneResolutionUnit -> millimetres (EXIF 2.3: 2 inch (default), 3 cm; 4 mm and 5 um
# are written by some cameras although only 2 and 3 are standard)
_UNIT_MM = {1: 25.4, 2: 25.4, 3: 10.0, 4: 1.0, 5: 0.001}

# tag ids (EXIF 2.3)
_IFD_EXIF = 0x8769
_MAKE, _MODEL = 0x010F, 0x0110
_FOCAL_LENGTH, _FOCAL_35MM = 0x920A, 0xA405
_PLANE_X, _PLANE_Y, _PLANE_UNIT = 0xA20E, 0xA20F, 0xA210
_PIXEL_X, _PIXEL_Y = 0xA002, 0xA003


@dataclass(frozen=True)
class ExifFocal:
    """The focal-length tags of one photo (None where absent or unusable).

    focal_mm: FocalLength.  focal_35mm: FocalLengthIn35mmFilm.
    plane_px_per_mm: (x, y) sensor pixels per millimetre from the focal-plane tags.
    pixel_size: (PixelXDimension, PixelYDimension) the tags refer to (else the stored size).
    camera: "Make Model" as written.
    """

    focal_mm: float | None
    focal_35mm: float | None
    plane_px_per_mm: tuple[float, float] | None
    pixel_size: tuple[int, int] | None
    camera: str

    def as_dict(self) -> dict:
        return {"FocalLength": self.focal_mm, "FocalLengthIn35mmFilm": self.focal_35mm,
                "FocalPlanePixelsPerMm": None if self.plane_px_per_mm is None else list(self.plane_px_per_mm),
                "PixelDimensions": None if self.pixel_size is None else list(self.pixel_size),
                "Camera": self.camera}


def _positive(value) -> float | None:
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return v if math.isfinite(v) and v > 0 else None


def read_exif_focal(path: str | Path) -> ExifFocal | None:
    """The focal-length tags of an image file, or None when it has no usable one (no EXIF,
    not an image Pillow reads, or tags that are zero or malformed). Never raises for bad
    files: the caller falls back to the next camera source."""
    if Path(path).suffix.lower() not in EXIF_SUFFIXES:  # PNG/BMP: cameras do not write EXIF there
        return None
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:  # Pillow missing: no EXIF, the assumed camera applies
        return None
    try:
        with Image.open(path) as im:
            exif = im.getexif()
            stored = im.size
            sub = exif.get_ifd(_IFD_EXIF)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError):
        return None
    focal_mm = _positive(sub.get(_FOCAL_LENGTH))
    focal_35 = _positive(sub.get(_FOCAL_35MM))
    plane = None
    px, py = _positive(sub.get(_PLANE_X)), _positive(sub.get(_PLANE_Y))
    try:
        unit_mm = _UNIT_MM.get(int(sub.get(_PLANE_UNIT, 2)))
    except (TypeError, ValueError):
        unit_mm = None
    if px and unit_mm:
        plane = (px / unit_mm, (py or px) / unit_mm)
    dims = (_positive(sub.get(_PIXEL_X)), _positive(sub.get(_PIXEL_Y)))
    pixel_size = (int(dims[0]), int(dims[1])) if all(dims) else tuple(stored)
    camera = " ".join(str(exif.get(t, "")).strip("\x00 ") for t in (_MAKE, _MODEL)).strip()
    if focal_mm is None and focal_35 is None:
        return None
    return ExifFocal(focal_mm, focal_35, plane, pixel_size, camera)


def exif_focal_px(tags: ExifFocal, width: int, height: int) -> tuple[float, float] | None:
    """(fx, fy) in pixels of the upright (width, height) image, or None (see module docstring)."""
    if tags.focal_mm is not None and tags.plane_px_per_mm is not None and tags.pixel_size:
        # the focal-plane resolution refers to pixel_size; the photo may have been resized
        scale = max(width, height) / max(tags.pixel_size)
        fx = tags.focal_mm * tags.plane_px_per_mm[0] * scale
        fy = tags.focal_mm * tags.plane_px_per_mm[1] * scale
        return fx, fy
    if tags.focal_35mm is not None:
        f = tags.focal_35mm * math.hypot(width, height) / FULL_FRAME_DIAGONAL_MM
        return f, f
    return None


def exif_intrinsics(path: str | Path, width: int, height: int) -> tuple[Intrinsics, dict] | None:
    """Intrinsics of the upright (width, height) photo from its EXIF, and the tags used
    (for the motion file), or None when the photo has no usable focal-length tags."""
    tags = read_exif_focal(path)
    if tags is None:
        return None
    focal = exif_focal_px(tags, width, height)
    if focal is None:
        return None
    intr = Intrinsics(fx=focal[0], fy=focal[1], cx=(width - 1) / 2, cy=(height - 1) / 2,
                      width=width, height=height)
    return intr, tags.as_dict()


__all__ = ["EXIF_SUFFIXES", "ExifFocal", "FULL_FRAME_DIAGONAL_MM", "exif_focal_px", "exif_intrinsics", "read_exif_focal"]
