"""`handmocap export MOTION --format fbx|glb|obj|preview --out DIR`: export a motion file
without re-tracking (a thin wrapper over handmocap.export)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app

FORMATS = ("fbx", "glb", "obj", "preview")


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

    formats = [f.lower() for f in (formats or ["fbx"])]
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise InputError(None, f"unknown export format '{bad[0]}' (use {', '.join(FORMATS)})")
    npz, _ = motion_paths(motion_path)
    motion = load_motion(motion_path)
    out = out or npz.parent
    stem = npz.name[: -len(".motion.npz")]
    for fmt in formats:
        if fmt == "fbx":
            from handmocap.export.fbx import export_fbx

            paths = [export_fbx(motion, out / f"{stem}.fbx", preset=preset, hand_model=model)]
        else:
            try:
                from handmocap.export import export_motion
            except ImportError:
                raise InputError(None, f"format '{fmt}' is not available in this build") from None
            result = export_motion(motion, [fmt], out, stem)
            paths = list(result.values()) if isinstance(result, dict) else list(result or [])
        for p in paths:
            typer.echo(f"wrote {p}")
