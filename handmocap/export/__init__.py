"""Exporters, one module per format behind one registry (like trimesh's exchange/).

    export_motion(motion, ["glb", "obj", "preview", "fbx"], out_dir, stem, video=path)

Each exporter writes atomically and returns the paths it wrote. A format whose optional
dependency is missing raises `DependencyError` only when that format is asked for.
Stills (`Motion.is_still`) get what suits one picture: "obj" writes one `STEM.obj`,
"preview" the PNG overlay `STEM.preview.png` (also "png"), "glb" the posed hand.
"""
from __future__ import annotations

import importlib
from pathlib import Path

from ..errors import HandmocapError
from ..motion import Motion


def _glb(motion, out_dir, stem, video, hand_model, options):
    from .glb import export_glb

    return [export_glb(motion, out_dir / f"{stem}.glb", hand_model)]


def _obj(motion, out_dir, stem, video, hand_model, options):
    from .obj_sequence import export_obj_frame, export_obj_sequence

    if motion.is_still:
        return [export_obj_frame(motion, out_dir / f"{stem}.obj", 0, hand_model, y_up=options.get("y_up", False))]

    return export_obj_sequence(motion, out_dir, stem, hand_model, y_up=options.get("y_up", False))


def _png(motion, out_dir, stem, video, hand_model, options):
    from .overlay import export_overlay

    if video is None:
        raise HandmocapError("the PNG overlay needs the source image")
    return [export_overlay(motion, video, out_dir / f"{stem}.preview.png", hand_model)]


def _preview(motion, out_dir, stem, video, hand_model, options):
    from .preview import export_preview

    if motion.is_still:
        return _png(motion, out_dir, stem, video, hand_model, options)

    if video is None:
        raise HandmocapError("the preview export needs the source video")
    kwargs = {"max_height": options["preview_max_height"]} if "preview_max_height" in options else {}
    return [export_preview(motion, video, out_dir / f"{stem}.preview.mp4", hand_model, **kwargs)]


def _fbx(motion, out_dir, stem, video, hand_model, options):
    try:
        fbx = importlib.import_module("handmocap.export.fbx")
    except ImportError as exc:  # bpy missing
        from ..errors import DependencyError

        raise DependencyError("bpy", "FBX export", extra="blender") from exc
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # Blender's FBX writer prints progress
        return [fbx.export_fbx(motion, out_dir / f"{stem}.fbx", preset=options.get("preset", "blender"),
                               hand_model=hand_model)]


def _npz(motion, out_dir, stem, video, hand_model, options):
    from ..motion import save_motion

    return [save_motion(motion, out_dir / stem)]


EXPORTERS = {"glb": _glb, "obj": _obj, "preview": _preview, "png": _png, "fbx": _fbx, "npz": _npz}


def export_motion(motion: Motion, formats, out_dir, stem: str, video=None, hand_model: str | None = None,
                  **options) -> dict[str, list[Path]]:
    """Write `motion` in every format of `formats`; returns {format: [paths]}."""
    unknown = [f for f in formats if f not in EXPORTERS]
    if unknown:
        raise HandmocapError(f"unknown export format {unknown[0]!r} (known: {', '.join(EXPORTERS)})")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return {f: EXPORTERS[f](motion, out_dir, stem, video, hand_model, options) for f in formats}
