"""Which camera an input was taken with: one rule for videos, sequences and photos.

In order, the first that applies (`resolve_camera`):

    source         when                                              model
    "given"        intrinsics given as an `Intrinsics` (--fx ...)     perspective
    "fov"          a horizontal field of view given (--fov)            perspective
    "calibration"  a calibration file given (--calib)                  perspective
    "sidecar"      NAME.calib.json (or .yaml/.yml) beside the input:   perspective
                   clip.mp4 -> clip.calib.json, a.jpg -> a.calib.json,
                   frames/ -> frames.calib.json
    "exif"         a photo whose EXIF has FocalLengthIn35mmFilm, or    perspective
                   FocalLength with the sensor's focal-plane resolution
    "assumed"      none of these: 60 degrees across the larger side    weak_perspective

The per-file sources ("sidecar", "exif") are looked for only when no intrinsics are given
and `per_file` is on, so one command can track clips and photos from different cameras.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError
from .intrinsics import Intrinsics

SIDECAR_SUFFIXES = (".calib.json", ".calib.yaml", ".calib.yml")
CAMERA_SOURCES = ("given", "fov", "calibration", "sidecar", "exif", "assumed")


@dataclass(frozen=True)
class CameraChoice:
    """The intrinsics used for one input and where they came from.

    intrinsics: for the input's (width, height).  model: "perspective" | "weak_perspective".
    source: one of `CAMERA_SOURCES`.  detail: what was read (the sidecar's path, the EXIF
    tags used), JSON-ready, for the motion file and the photo summary.
    """

    intrinsics: Intrinsics
    model: str
    source: str
    detail: dict = field(default_factory=dict)


def sidecar_calibration(path: str | Path) -> Path | None:
    """The calibration file beside `path` (`NAME.calib.json` / `.yaml` / `.yml`), or None."""
    path = Path(path)
    name = path.name if path.is_dir() else path.stem
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_name(name + suffix)
        if candidate.is_file():
            return candidate
    return None


def resolve_camera(intrinsics, width: int, height: int, path: str | Path | None = None,
                   per_file: bool = True, is_photo: bool = False) -> CameraChoice:
    """The camera of an input of upright size (width, height).

    Args:
        intrinsics: an `Intrinsics`, a horizontal FOV in degrees, a calibration file path,
            or None (look per file, then assume).
        path: the input (video, image folder or image) whose sidecar / EXIF is read.
        per_file: look for a sidecar calibration and EXIF when `intrinsics` is None.
        is_photo: read EXIF focal lengths (single images only; never for video frames).

    Raises:
        InputError / FormatError: a given or sidecar calibration file cannot be read (its
            name is in the message).
    """
    from .weak_perspective import assumed_intrinsics

    if isinstance(intrinsics, Intrinsics):
        return CameraChoice(intrinsics.resized(width, height), "perspective", "given")
    if isinstance(intrinsics, (int, float)) and not isinstance(intrinsics, bool):
        return CameraChoice(Intrinsics.from_fov(float(intrinsics), width, height), "perspective", "fov")
    if intrinsics is not None:
        return CameraChoice(Intrinsics.from_file(intrinsics).resized(width, height), "perspective",
                            "calibration", {"file": str(intrinsics)})
    if per_file and path is not None:
        sidecar = sidecar_calibration(path)
        if sidecar is not None:
            return CameraChoice(Intrinsics.from_file(sidecar).resized(width, height), "perspective",
                                "sidecar", {"file": str(sidecar)})
        if is_photo:
            from .exif import exif_intrinsics

            found = exif_intrinsics(path, width, height)
            if found is not None:
                return CameraChoice(found[0], "perspective", "exif", {"exif": found[1]})
    if width <= 0 or height <= 0:
        raise InputError(path, f"image size {width}x{height} is not usable")
    return CameraChoice(assumed_intrinsics(width, height), "weak_perspective", "assumed")


__all__ = ["CAMERA_SOURCES", "CameraChoice", "SIDECAR_SUFFIXES", "resolve_camera", "sidecar_calibration"]
