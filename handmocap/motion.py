"""The motion file: every hand track of one video, versioned. numpy + json only (no torch),
so the Blender add-on and other tools can read it too.

On disk, `NAME.motion.npz` holds the arrays and a copy of the metadata; `NAME.motion.json`
is a small human-readable sidecar with the same metadata (no arrays).

Arrays of track k (T_k frames on which the track exists, in frame order):
    t{k}.frame_index (T,) int64          video frame numbers
    t{k}.timestamp_s (T,) float64         presentation time of each frame, seconds
    t{k}.global_orient (T, 3) float32     axis-angle of the wrist, camera frame (OpenCV)
    t{k}.hand_pose (T, 45) float32        15 local axis-angles, MANO joint order, flat-hand zero
    t{k}.betas (S,) float32               shape, shared by the whole track
    t{k}.transl (T, 3) float32            metres: camera-space mesh = HandModel(...) + transl
    t{k}.keypoints_px (T, 21, 2) float32  detector's image keypoints, pixel centres
    t{k}.keypoints_cam (T, 21, 3) float32 the model's 21 keypoints in camera space, metres
    t{k}.keypoints_rel (T, 21, 3) float32 detector's metric keypoints (camera-aligned, metres)
    t{k}.confidence (T, 21) float32       per-keypoint weight used by global positioning
    t{k}.score (T,) float32               detector score (0 on bridged frames)
    t{k}.detected (T,) bool               False where the frame was bridged (interpolated)
    t{k}.reprojection_px (T,) float32     mean 2D distance of projected model keypoints
Left-hand tracks hold the parameters of the left model (`HandModel(side='left')`).
Metadata keys added within version 1 (optional, readers ignore what they do not know):
    source_relative    the source video relative to the motion file's folder
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .errors import FormatError

SCHEMA = "handmocap.motion"
SCHEMA_VERSION = 1
TRACK_ARRAYS = {  # name: (dtype, shape after the leading T; None for per-track arrays)
    "frame_index": (np.int64, ()),
    "timestamp_s": (np.float64, ()),
    "global_orient": (np.float32, (3,)),
    "hand_pose": (np.float32, (45,)),
    "transl": (np.float32, (3,)),
    "keypoints_px": (np.float32, (21, 2)),
    "keypoints_cam": (np.float32, (21, 3)),
    "keypoints_rel": (np.float32, (21, 3)),
    "confidence": (np.float32, (21,)),
    "score": (np.float32, ()),
    "detected": (np.bool_, ()),
    "reprojection_px": (np.float32, ()),
}


@dataclass(frozen=True)
class CameraInfo:
    """How camera-space positions were obtained.

    model: "perspective" (known or assumed intrinsics, DGP) or "weak_perspective".
    K: (3, 3) intrinsics used (for weak perspective: the assumed focal that set depth).
    source: "given" | "fov" | "calibration" | "sidecar" (NAME.calib.json beside the input) |
        "exif" (a photo's focal length) | "assumed" (see `handmocap.camera.source`).
    """

    model: str
    K: tuple[tuple[float, ...], ...]
    source: str
    image_size: tuple[int, int]

    @property
    def matrix(self) -> np.ndarray:
        return np.asarray(self.K, dtype=np.float64)


@dataclass
class Track:
    """One hand followed through the video (see module docstring for the arrays)."""

    track_id: int
    side: str
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    global_orient: np.ndarray
    hand_pose: np.ndarray
    betas: np.ndarray
    transl: np.ndarray
    keypoints_px: np.ndarray
    keypoints_cam: np.ndarray
    keypoints_rel: np.ndarray
    confidence: np.ndarray
    score: np.ndarray
    detected: np.ndarray
    reprojection_px: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_index)

    def subset(self, rows) -> "Track":
        """The same track restricted to `rows` (a slice, indices or a boolean mask) of its frames."""
        from dataclasses import replace

        return replace(self, **{name: np.asarray(getattr(self, name))[rows] for name in TRACK_ARRAYS})


@dataclass
class Motion:
    """Every hand track of one video, plus what is needed to place it in the scene."""

    source: str
    fps: float
    num_frames: int
    image_size: tuple[int, int]
    camera: CameraInfo
    hand_model_id: str
    tracks: list[Track] = field(default_factory=list)
    estimator: str = "fitting"
    extra: dict = field(default_factory=dict)
    version: int = SCHEMA_VERSION

    @property
    def is_still(self) -> bool:
        """One frame (a photo, or a 1-frame video): its tracks are one frame each, and the
        exporters write a posed GLB, one OBJ and a PNG overlay."""
        return self.num_frames == 1

    def metadata(self) -> dict:
        """The JSON-serialisable part (written to the sidecar and inside the npz)."""
        return {
            "schema": SCHEMA, "version": self.version, "source": self.source, "fps": self.fps,
            "num_frames": self.num_frames, "image_size": list(self.image_size),
            "camera": asdict(self.camera), "hand_model_id": self.hand_model_id,
            "estimator": self.estimator, "extra": self.extra,
            "tracks": [{"track_id": t.track_id, "side": t.side, "frames": len(t),
                        "first_frame": int(t.frame_index[0]) if len(t) else None,
                        "last_frame": int(t.frame_index[-1]) if len(t) else None,
                        "detected_frames": int(np.sum(t.detected))} for t in self.tracks],
        }


def motion_paths(path: str | os.PathLike) -> tuple[Path, Path]:
    """(npz, json) paths for a motion path given with or without its suffixes."""
    p = Path(path)
    name = p.name
    for suffix in (".npz", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    if not name.endswith(".motion"):
        name += ".motion"
    return p.with_name(name + ".npz"), p.with_name(name + ".json")


def _atomic(path: Path, write) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def source_relative(source: str, folder: Path) -> str | None:
    """The source video's path relative to the motion file's folder (posix separators), so
    the video is found next to a motion file that was moved with it; None when the source
    is not a file on disk."""
    if not source or not Path(source).is_file():
        return None
    try:
        return Path(os.path.relpath(Path(source).resolve(), Path(folder).resolve())).as_posix()
    except ValueError:  # another drive (Windows)
        return None


def save_motion(motion: Motion, path: str | os.PathLike, final_path: str | os.PathLike | None = None) -> Path:
    """Write `NAME.motion.npz` and its JSON sidecar atomically; returns the npz path.

    final_path: where the file will be moved to when it is written into a staging folder
    first (the source video's relative path is taken from there); default `path`.
    """
    npz_path, json_path = motion_paths(path)
    npz_path.parent.mkdir(parents=True, exist_ok=True)
    meta = motion.metadata()
    relative = source_relative(motion.source, motion_paths(final_path or path)[0].parent)
    if relative is not None:  # optional key (schema version 1 readers ignore it)
        meta["source_relative"] = relative
    arrays: dict[str, np.ndarray] = {"meta_json": np.asarray(json.dumps(meta))}
    for k, t in enumerate(motion.tracks):
        T = len(t.frame_index)
        for name, (dtype, shape) in TRACK_ARRAYS.items():
            a = np.asarray(getattr(t, name), dtype=dtype)
            if a.shape != (T, *shape):
                raise FormatError(npz_path, f"track {k} array '{name}' has shape {a.shape}, expected {(T, *shape)}")
            arrays[f"t{k}.{name}"] = a
        arrays[f"t{k}.betas"] = np.asarray(t.betas, dtype=np.float32).reshape(-1)
    _atomic(npz_path, lambda fh: np.savez_compressed(fh, **arrays))
    _atomic(json_path, lambda fh: fh.write(json.dumps(meta, indent=2).encode()))
    return npz_path


def load_motion(path: str | os.PathLike) -> Motion:
    """Read a motion file (npz; the sidecar is optional). FormatError on anything wrong."""
    npz_path, _ = motion_paths(path)
    if not npz_path.exists() and Path(path).exists():
        npz_path = Path(path)
    if not npz_path.exists():
        raise FormatError(npz_path, "motion file not found")
    try:
        with np.load(npz_path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # zip, pickle, truncation errors differ in type
        raise FormatError(npz_path, f"not a readable motion file ({type(exc).__name__}: {exc})") from None
    if "meta_json" not in data:
        raise FormatError(npz_path, "missing 'meta_json': not a handmocap motion file")
    try:
        return _motion_from_arrays(npz_path, data)
    except FormatError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError, RecursionError) as exc:
        raise FormatError(npz_path, f"malformed motion file ({type(exc).__name__}: {exc})") from None


def _motion_from_arrays(npz_path: Path, data: dict) -> Motion:
    try:
        meta = json.loads(str(data["meta_json"]))
    except json.JSONDecodeError as exc:
        raise FormatError(npz_path, f"corrupt metadata ({exc})") from None
    if not isinstance(meta, dict):
        raise FormatError(npz_path, f"metadata is a {type(meta).__name__}, expected a mapping")
    if meta.get("schema") != SCHEMA:
        raise FormatError(npz_path, f"schema is {meta.get('schema')!r}, expected {SCHEMA!r}")
    if meta.get("version") != SCHEMA_VERSION:
        raise FormatError(npz_path, f"motion schema version {meta.get('version')} is not supported "
                                    f"(this handmocap reads version {SCHEMA_VERSION})")
    tracks = []
    for k, tmeta in enumerate(meta.get("tracks", [])):
        fields = {}
        for name in (*TRACK_ARRAYS, "betas"):
            key = f"t{k}.{name}"
            if key not in data:
                raise FormatError(npz_path, f"missing array '{key}'")
            fields[name] = data[key]
        T = len(fields["frame_index"])
        for name, (_, shape) in TRACK_ARRAYS.items():
            if fields[name].shape != (T, *shape):
                raise FormatError(npz_path, f"array 't{k}.{name}' has shape {fields[name].shape}, expected {(T, *shape)}")
        tracks.append(Track(track_id=int(tmeta["track_id"]), side=str(tmeta["side"]), **fields))
    cam = meta["camera"]
    camera = CameraInfo(model=cam["model"], K=tuple(tuple(r) for r in cam["K"]), source=cam["source"],
                        image_size=tuple(cam["image_size"]))
    return Motion(source=meta["source"], fps=float(meta["fps"]), num_frames=int(meta["num_frames"]),
                  image_size=tuple(meta["image_size"]), camera=camera,
                  hand_model_id=meta["hand_model_id"], tracks=tracks,
                  estimator=meta.get("estimator", "unknown"), extra=meta.get("extra", {}),
                  version=meta["version"])
