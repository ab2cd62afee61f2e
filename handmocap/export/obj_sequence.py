"""OBJ sequence: one file per video frame (`STEM_000000.obj` ...) holding every hand of
that frame as its own object (`track0_right`), camera-space metres in the OpenCV frame
(or y-up glTF axes with `y_up=True`). Frames without hands get a file with no geometry,
so the numbering matches the video. A still gets one file, `STEM.obj` (`export_obj_frame`)."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from ..hand import HandModel
from ..motion import Motion
from .axes import points_cv_to_gltf
from .mesh import write_atomic


def iter_camera_space_vertices(motion: Motion, hand_model: str | None = None,
                               chunk: int = 64) -> Iterator[dict[int, np.ndarray]]:
    """Per video frame in order, {track_id: (V, 3) camera-space vertices, metres (OpenCV)}.

    The hand model runs on `chunk` frames at a time, so memory stays bounded for long clips.
    """
    models: dict[str, HandModel] = {}
    rows = []  # per track: frame -> row in the track's arrays
    for t in motion.tracks:
        if len(t):
            models.setdefault(t.side, HandModel(hand_model, side=t.side))
        rows.append({int(f): i for i, f in enumerate(np.asarray(t.frame_index))})
    for start in range(0, motion.num_frames, chunk):
        frames: list[dict[int, np.ndarray]] = [dict() for _ in range(min(chunk, motion.num_frames - start))]
        for t, row in zip(motion.tracks, rows):
            pairs = [(f - start, row[f]) for f in range(start, start + len(frames)) if f in row]
            if not pairs:
                continue
            idx = np.array([i for _, i in pairs])
            with torch.no_grad():
                v = models[t.side](global_orient=np.asarray(t.global_orient)[idx],
                                   hand_pose=np.asarray(t.hand_pose)[idx],
                                   betas=np.repeat(np.asarray(t.betas)[None], len(idx), 0),
                                   transl=np.asarray(t.transl)[idx]).vertices.numpy()
            for (f, _), verts in zip(pairs, v):
                frames[f][t.track_id] = verts
        yield from frames


def still_vertices(motion: Motion, hand_model: str | None = None) -> dict[int, np.ndarray]:
    """{track_id: (V, 3) camera-space vertices, metres} of frame 0 of a still's tracks (the
    process's cached hand models: photos are many small jobs)."""
    from ..hand import cached_hand_model

    out = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one hand: a second intra-op thread only adds overhead (6x measured)
    try:
        with torch.no_grad():
            for t in motion.tracks:
                out[t.track_id] = cached_hand_model(hand_model, t.side)(
                    global_orient=t.global_orient[:1], hand_pose=t.hand_pose[:1], betas=np.asarray(t.betas)[None],
                    transl=t.transl[:1]).vertices[0].numpy()
    finally:
        torch.set_num_threads(threads)
    return out


def camera_space_vertices(motion: Motion, hand_model: str | None = None) -> list[dict[int, np.ndarray]]:
    """Per frame, {track_id: (V, 3) camera-space vertices, metres}: every frame at once
    (use `iter_camera_space_vertices` for long clips)."""
    return list(iter_camera_space_vertices(motion, hand_model))


def _face_lines(faces: np.ndarray, offset: int) -> str:
    """(F, 3) 0-based triangles -> OBJ `f` lines, 1-based, shifted by `offset` vertices."""
    return ("f %d %d %d\n" * len(faces)) % tuple((np.asarray(faces) + 1 + offset).ravel())


def obj_text(meshes: dict[str, np.ndarray], faces: dict[str, np.ndarray], _cache: dict | None = None) -> str:
    """Objects named by key: vertices (V, 3) metres and faces (F, 3) 0-based -> OBJ text.

    Written directly (one string format per block, 8 decimals = 10 nm): trimesh reads it
    back; the face blocks repeat every frame, so `_cache` keeps them by (name, offset)."""
    cache = {} if _cache is None else _cache
    parts, offset = ["# handmocap OBJ frame: metres\n"], 0
    for name, verts in meshes.items():
        v = np.asarray(verts, dtype=np.float64)
        parts.append(f"o {name}\n")
        parts.append(("v %.8f %.8f %.8f\n" * len(v)) % tuple(v.ravel()))
        key = (name, offset)
        if key not in cache:
            cache[key] = _face_lines(faces[name], offset)
        parts.append(cache[key])
        offset += len(v)
    return "".join(parts)


def export_obj_sequence(motion: Motion, out_dir: Path, stem: str, hand_model: str | None = None,
                        y_up: bool = False) -> list[Path]:
    """Write one OBJ per frame into `out_dir/STEM_obj/`; returns the paths in frame order."""
    folder = Path(out_dir) / f"{stem}_obj"
    frames = iter_camera_space_vertices(motion, hand_model)
    sides = {t.track_id: t.side for t in motion.tracks}
    faces = {s: HandModel(hand_model, side=s).faces.numpy() for s in set(sides.values())}
    paths, cache = [], {}
    for f, hands in enumerate(frames):
        meshes = {f"track{k}_{sides[k]}": (points_cv_to_gltf(v) if y_up else v) for k, v in sorted(hands.items())}
        text = obj_text(meshes, {f"track{k}_{sides[k]}": faces[sides[k]] for k in hands}, cache)
        paths.append(write_atomic(folder / f"{stem}_{f:06d}.obj", text.encode()))
    return paths


def export_obj_frame(motion: Motion, path: Path, frame: int = 0, hand_model: str | None = None,
                     y_up: bool = False) -> Path:
    """Write every hand of one frame (a still's only one) as one OBJ at `path`; returns it."""
    if not 0 <= frame < motion.num_frames:
        from ..errors import HandmocapError

        raise HandmocapError(f"frame {frame} is outside the motion's {motion.num_frames} frames")
    from ..hand import load_hand_asset

    sides = {t.track_id: t.side for t in motion.tracks}
    faces = {s: np.asarray(load_hand_asset(hand_model, s).faces) for s in set(sides.values())}
    if motion.is_still:
        hands = still_vertices(motion, hand_model)
    else:
        hands = next(f for i, f in enumerate(iter_camera_space_vertices(motion, hand_model)) if i == frame)
    meshes = {f"track{k}_{sides[k]}": (points_cv_to_gltf(v) if y_up else v) for k, v in sorted(hands.items())}
    text = obj_text(meshes, {f"track{k}_{sides[k]}": faces[sides[k]] for k in hands})
    return write_atomic(Path(path), text.encode())
