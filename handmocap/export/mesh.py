"""Static mesh files (OBJ, PLY, STL, GLB) of a posed hand, via trimesh."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..errors import InputError
from ..hand import HandModel
from ..hand.mirror import mirror_axis_angle
from ..hand.poses import named_pose, named_pose_names

MESH_SUFFIXES = (".obj", ".ply", ".stl", ".glb")


def mesh_bytes(vertices: np.ndarray, faces: np.ndarray, file_type: str) -> bytes:
    """vertices: (V, 3) metres; faces: (F, 3) -> file contents in `file_type` (obj/ply/stl/glb)."""
    import trimesh

    mesh = trimesh.Trimesh(vertices=np.asarray(vertices, dtype=np.float64), faces=faces, process=False)
    return mesh.export(file_type=file_type)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write bytes to `path` through a temporary sibling, so no half-written file survives."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_bytes(data if isinstance(data, bytes) else data.encode())
    tmp.replace(path)
    return path


def pose_mesh(name: str, out: Path, side: str = "right", model: str | None = None) -> Path:
    """Pose the hand model with a named pose and write its mesh to `out`."""
    out = Path(out)
    if out.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(out, f"unsupported mesh format '{out.suffix}' (use {', '.join(MESH_SUFFIXES)})")
    if name not in named_pose_names():
        raise InputError(None, f"unknown pose '{name}' (known: {', '.join(named_pose_names())})")
    hand = HandModel(model, side=side)
    pose = torch.as_tensor(named_pose(name), dtype=torch.float32)[None]
    if side == "left":
        pose = mirror_axis_angle(pose)
    verts = hand(hand_pose=pose).vertices[0].detach().numpy()
    return write_atomic(out, mesh_bytes(verts, hand.asset.faces, out.suffix[1:].lower()))
