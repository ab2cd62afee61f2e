"""OBJ sequence: one file per video frame (`STEM_000000.obj` ...) holding every hand of
that frame as its own object (`track0_right`), camera-space metres in the OpenCV frame
(or y-up glTF axes with `y_up=True`). Frames without hands get a file with no geometry,
so the numbering matches the video."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..hand import HandModel
from ..motion import Motion
from .axes import points_cv_to_gltf
from .mesh import write_atomic


def camera_space_vertices(motion: Motion, hand_model: str | None = None) -> list[dict[int, np.ndarray]]:
    """Per frame, {track_id: (V, 3) camera-space vertices, metres}."""
    frames: list[dict[int, np.ndarray]] = [dict() for _ in range(motion.num_frames)]
    models: dict[str, HandModel] = {}
    for t in motion.tracks:
        if len(t) == 0:
            continue
        hand = models.setdefault(t.side, HandModel(hand_model, side=t.side))
        T = len(t)
        with torch.no_grad():
            v = hand(global_orient=torch.as_tensor(t.global_orient), hand_pose=torch.as_tensor(t.hand_pose),
                     betas=torch.as_tensor(t.betas)[None].expand(T, -1), transl=torch.as_tensor(t.transl)).vertices
        for i, f in enumerate(np.asarray(t.frame_index)):
            if 0 <= f < motion.num_frames:
                frames[f][t.track_id] = v[i].numpy()
    return frames


def obj_text(meshes: dict[str, np.ndarray], faces: dict[str, np.ndarray]) -> str:
    """Objects named by key: vertices (V, 3) and faces (F, 3) 0-based -> OBJ text."""
    import trimesh

    parts = ["# handmocap OBJ frame: metres\n"]
    for name, verts in meshes.items():
        mesh = trimesh.Trimesh(vertices=verts, faces=faces[name], process=False)
        body = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False,
                                               header=None, return_texture=False)
        parts.append(f"o {name}\n")
        offset = sum(len(v) for v in list(meshes.values())[: list(meshes).index(name)])
        for line in body.splitlines():
            if line.startswith("f ") and offset:
                line = "f " + " ".join(str(int(i) + offset) for i in line[2:].split())
            parts.append(line + "\n")
    return "".join(parts)


def export_obj_sequence(motion: Motion, out_dir: Path, stem: str, hand_model: str | None = None,
                        y_up: bool = False) -> list[Path]:
    """Write one OBJ per frame into `out_dir/STEM_obj/`; returns the paths in frame order."""
    folder = Path(out_dir) / f"{stem}_obj"
    frames = camera_space_vertices(motion, hand_model)
    sides = {t.track_id: t.side for t in motion.tracks}
    faces = {s: HandModel(hand_model, side=s).faces.numpy() for s in set(sides.values())}
    paths = []
    for f, hands in enumerate(frames):
        meshes = {f"track{k}_{sides[k]}": (points_cv_to_gltf(v) if y_up else v) for k, v in sorted(hands.items())}
        text = obj_text(meshes, {f"track{k}_{sides[k]}": faces[sides[k]] for k in hands})
        paths.append(write_atomic(folder / f"{stem}_{f:06d}.obj", text.encode()))
    return paths
