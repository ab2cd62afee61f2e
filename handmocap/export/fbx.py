"""FBX export of a motion via bpy (Blender as a Python module, headless).

The scene is built with the Blender add-on's own code (blender_addon/bl), so the FBX and
File > Import > Hand Motion give the same armature: bones at the hand joints (local X =
flexion axis), the skinned hand mesh, one action per hand track, the video's frame rate and
range. Engine presets set axes and units at export: unity (Y-up, metres), unreal (Z-up,
centimetres), blender (Z-up, metres).
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import DependencyError, InputError
from ..motion import Motion

PRESETS = ("blender", "unity", "unreal")
ADDON_DIR = Path(__file__).resolve().parents[2] / "blender_addon"
_ADDON_MODULE = "handmocap_blender"


def _bpy():
    try:
        import bpy
    except ImportError:
        raise DependencyError(None, "FBX export needs Blender as a Python module: pip install bpy==5.0.1") from None
    return bpy


def load_addon_package():
    """The add-on package (importable as `handmocap_blender` when installed alongside, else
    loaded from the source checkout's blender_addon/)."""
    if _ADDON_MODULE in sys.modules:
        return sys.modules[_ADDON_MODULE]
    try:
        return importlib.import_module(_ADDON_MODULE)
    except ImportError:
        pass
    init = ADDON_DIR / "__init__.py"
    if not init.is_file():
        raise DependencyError(None, f"the Blender add-on sources are missing ({ADDON_DIR})")
    spec = importlib.util.spec_from_file_location(_ADDON_MODULE, init, submodule_search_locations=[str(ADDON_DIR)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[_ADDON_MODULE] = module
    spec.loader.exec_module(module)
    return module


def _hand_arrays(hand_model) -> dict:
    """MANO-layout arrays of the right hand for the add-on's rest-shape code."""
    from ..hand.assets import HandAsset, load_hand_asset, mirror_asset

    asset = hand_model if isinstance(hand_model, HandAsset) else load_hand_asset(hand_model, "right")
    if asset.side != "right":
        asset = mirror_asset(asset)
    return {"v_template": asset.v_template, "shapedirs": asset.shapedirs, "J_regressor": asset.J_regressor,
            "weights": asset.weights, "f": asset.faces, "fingertip_vertex_ids": asset.fingertip_ids}


def _motion_data(addon, motion: Motion, path: Path):
    reader = importlib.import_module(f"{addon.__name__}.core.motion_reader")
    tracks = [reader.TrackData(track_id=t.track_id, side=t.side, arrays={
        name: np.asarray(getattr(t, name)) for name in (*reader.TRACK_ARRAYS, "betas")}) for t in motion.tracks]
    return reader.MotionData(path=path, source=motion.source, fps=float(motion.fps),
                             num_frames=int(motion.num_frames), image_size=tuple(motion.image_size),
                             K=motion.camera.matrix, hand_model_id=motion.hand_model_id, tracks=tracks)


def export_fbx(motion: Motion, path: str | os.PathLike, preset: str = "blender", hand_model=None) -> Path:
    """Write `motion` as an FBX file (atomically) and return its path.

    Args:
        motion: every track becomes an armature (16 bones) with its skinned mesh and action;
            video frame f is FBX frame f (FBX time = f / fps; Blender's importer adds its
            default 1-frame offset, matching the add-on's import).
        preset: "blender" | "unity" | "unreal" (axes and units, see module docstring).
        hand_model: None (bundled open hand), a HandAsset, or a source for load_hand_asset.

    Note: replaces bpy's open file in this process by an empty scene (preferences kept).
    """
    if preset not in PRESETS:
        raise InputError(path, f"unknown FBX preset '{preset}' (use {', '.join(PRESETS)})")
    if not motion.tracks or all(len(t) == 0 for t in motion.tracks):
        raise InputError(path, "the motion has no hand track to export")
    bpy = _bpy()
    addon = load_addon_package()
    build = importlib.import_module(f"{addon.__name__}.bl.build")
    fbx = importlib.import_module(f"{addon.__name__}.bl.fbx")
    path = Path(path)
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    _, armatures = build.import_motion(None, scene, motion=_motion_data(addon, motion, path.with_suffix(".motion.npz")),
                                       hand_arrays=_hand_arrays(hand_model), frame_offset=0,
                                       with_camera=True, video_background=False)
    try:
        return fbx.export_hand_fbx(path, armatures, preset)
    except OSError as exc:
        raise InputError(path, f"FBX export failed ({exc})") from None
