"""Read a handmocap motion file (schema "handmocap.motion", version 1) with numpy only.

Pinned to schema version 1: it reads the same keys as `handmocap.motion.load_motion`
(the package's contract), without importing the package. Any problem becomes a
`MotionFileError` whose message names the file and the problem (the operators turn it into
a Blender error report).
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SCHEMA = "handmocap.motion"
SCHEMA_VERSION = 1
TRACK_ARRAYS = {  # name: shape after the leading T (None: per-track)
    "frame_index": (), "timestamp_s": (), "global_orient": (3,), "hand_pose": (45,),
    "transl": (3,), "keypoints_px": (21, 2), "keypoints_cam": (21, 3), "keypoints_rel": (21, 3),
    "confidence": (21,), "score": (), "detected": (), "reprojection_px": (),
}


class MotionFileError(ValueError):
    """A motion file that cannot be used; str() is one line: 'path: reason'."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")


@dataclass
class TrackData:
    """One hand track. Arrays: frame_index (T,) int; global_orient (T, 3), hand_pose (T, 45)
    axis-angles (camera frame, MANO order); transl (T, 3) m; betas (S,); keypoints_cam
    (T, 21, 3) m, camera frame (OpenCV); detected (T,) bool."""

    track_id: int
    side: str
    arrays: dict

    def __getattr__(self, name):
        try:
            return self.__dict__["arrays"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __len__(self) -> int:
        return len(self.arrays["frame_index"])


@dataclass
class MotionData:
    """Every track of one video. K: (3, 3) intrinsics in pixels; image_size (W, H)."""

    path: Path
    source: str
    fps: float
    num_frames: int
    image_size: tuple
    K: np.ndarray
    hand_model_id: str
    tracks: list = field(default_factory=list)
    source_relative: str = ""

    def source_file(self) -> Path | None:
        """The source video on disk: next to the motion file first (source_relative, then a
        relative `source`), then `source` as written; None if none exists."""
        folder = Path(self.path).parent
        candidates = [folder / self.source_relative] if self.source_relative else []
        if self.source:
            src = Path(self.source)
            candidates += [src] if src.is_absolute() else [folder / src, src]
        found = next((c for c in candidates if c.is_file()), None)
        return found.resolve() if found is not None else None


def motion_npz_path(path) -> Path:
    """The npz of a motion given as NAME, NAME.motion, NAME.motion.npz or its .json sidecar."""
    p = Path(path)
    if p.name.endswith(".motion.json"):
        return p.with_name(p.name[: -len(".json")] + ".npz")
    if p.suffix == ".npz" or p.exists():
        return p
    name = p.name if p.name.endswith(".motion") else p.name + ".motion"
    return p.with_name(name + ".npz")


def read_motion(path) -> MotionData:
    """Read and validate a motion file. Raises MotionFileError (never another exception)."""
    npz = motion_npz_path(path)
    if not npz.is_file():
        raise MotionFileError(npz, "motion file not found")
    try:
        with np.load(npz, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, KeyError) as exc:
        raise MotionFileError(npz, f"not a readable motion file ({type(exc).__name__}: {exc})") from None
    if "meta_json" not in data:
        raise MotionFileError(npz, "missing 'meta_json': not a handmocap motion file")
    try:
        meta = json.loads(str(data["meta_json"]))
    except json.JSONDecodeError as exc:
        raise MotionFileError(npz, f"corrupt metadata ({exc})") from None
    if not isinstance(meta, dict) or meta.get("schema") != SCHEMA:
        raise MotionFileError(npz, f"schema is {meta.get('schema') if isinstance(meta, dict) else None!r}, "
                                   f"expected {SCHEMA!r}")
    if meta.get("version") != SCHEMA_VERSION:
        raise MotionFileError(npz, f"motion schema version {meta.get('version')} is not supported "
                                   f"(this add-on reads version {SCHEMA_VERSION}; update the add-on)")
    try:
        tracks = [_read_track(npz, data, k, tmeta) for k, tmeta in enumerate(meta["tracks"])]
        K = np.asarray(meta["camera"]["K"], dtype=np.float64)
        if K.shape != (3, 3):
            raise MotionFileError(npz, f"camera K has shape {K.shape}, expected (3, 3)")
        return MotionData(path=npz, source=str(meta.get("source", "")), fps=float(meta["fps"]),
                          num_frames=int(meta["num_frames"]),
                          image_size=tuple(int(v) for v in meta["image_size"]), K=K,
                          hand_model_id=str(meta.get("hand_model_id", "")), tracks=tracks,
                          source_relative=str(meta.get("source_relative") or ""))
    except KeyError as exc:
        raise MotionFileError(npz, f"metadata lacks key {exc}") from None
    except (TypeError, ValueError) as exc:
        if isinstance(exc, MotionFileError):
            raise
        raise MotionFileError(npz, f"malformed metadata ({exc})") from None


def _read_track(npz: Path, data: dict, k: int, tmeta: dict) -> TrackData:
    arrays = {}
    for name in (*TRACK_ARRAYS, "betas"):
        key = f"t{k}.{name}"
        if key not in data:
            raise MotionFileError(npz, f"missing array '{key}'")
        arrays[name] = data[key]
    T = len(arrays["frame_index"])
    for name, shape in TRACK_ARRAYS.items():
        if arrays[name].shape != (T, *shape):
            raise MotionFileError(npz, f"array 't{k}.{name}' has shape {arrays[name].shape}, expected {(T, *shape)}")
    side = str(tmeta["side"])
    if side not in ("right", "left"):
        raise MotionFileError(npz, f"track {k} side is {side!r}, expected 'right' or 'left'")
    for name in ("global_orient", "hand_pose", "transl", "betas"):
        if not np.all(np.isfinite(arrays[name])):
            raise MotionFileError(npz, f"array 't{k}.{name}' holds NaN or infinite values")
    return TrackData(track_id=int(tmeta["track_id"]), side=side, arrays=arrays)
