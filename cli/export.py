"""`handmocap export MOTION --format fbx|glb|obj|preview --out DIR`: export a motion file
without re-tracking (a thin wrapper over handmocap.export)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app



@app.command()
def export(
    motion_path: Annotated[Path, typer.Argument(metavar="MOTION", help="A .motion.npz file (or its .json sidecar).")],
    formats: Annotated[list[str], typer.Option("--format", "-f", help="fbx, glb, obj or preview; repeatable.")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder (default: next to the motion).")] = None,
    preset: Annotated[str, typer.Option(help="FBX engine preset: blender (Z-up, m), unity (Y-up, m), unreal (Z-up, cm).")] = "blender",
    model: Annotated[str, typer.Option(help="Hand model: 'open', a .npz, or MANO pickle/folder.")] = None,
) -> None:
    """Export a motion file to FBX/GLB/OBJ/preview without re-tracking."""
    from handmocap.errors import InputError
    from handmocap.motion import load_motion, motion_paths

    from handmocap.export import EXPORTERS, export_motion

    formats = [f.lower() for f in (formats or ["fbx"])]
    bad = [f for f in formats if f not in EXPORTERS]
    if bad:
        raise InputError(None, f"unknown export format '{bad[0]}' (use {', '.join(EXPORTERS)})")
    npz, _ = motion_paths(motion_path)
    motion = load_motion(motion_path)
    out = out or npz.parent
    stem = npz.name[: -len(".motion.npz")]
    video = Path(motion.source) if Path(motion.source).exists() else None
    result = export_motion(motion, formats, out, stem, video=video, hand_model=model, preset=preset)
    for paths in result.values():
        for p in paths:
            typer.echo(f"wrote {p}")
