"""FBX export of imported hand armatures (and their meshes) with engine presets."""
from __future__ import annotations

import os
from pathlib import Path

import bpy

# axis and unit settings of Blender's FBX exporter per target application
ENGINE_PRESETS = {
    # Z-up, metres (the file declares metres: UnitScaleFactor 100)
    "blender": dict(axis_forward="-Y", axis_up="Z", apply_scale_options="FBX_SCALE_ALL"),
    # Y-up, metres: Unity's "Convert Units" then imports at scale 1
    "unity": dict(axis_forward="-Z", axis_up="Y", apply_scale_options="FBX_SCALE_ALL"),
    # Z-up, centimetres (UnitScaleFactor 1, coordinates x100)
    "unreal": dict(axis_forward="-Y", axis_up="Z", apply_scale_options="FBX_SCALE_NONE"),
}


def export_hand_fbx(path, armatures, preset: str = "blender") -> Path:
    """Write the armatures, their child meshes and their actions (baked, every frame,
    no key reduction) to `path`, atomically. Returns the path."""
    if preset not in ENGINE_PRESETS:
        raise ValueError(f"unknown FBX preset '{preset}' (use {', '.join(ENGINE_PRESETS)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.fbx")
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(False)
    objs = list(armatures) + [c for a in armatures for c in a.children if c.type == "MESH"]
    for obj in objs:
        obj.select_set(True)
    view_layer.objects.active = armatures[0]
    try:
        result = bpy.ops.export_scene.fbx(
            filepath=str(tmp), use_selection=True, object_types={"ARMATURE", "MESH"},
            global_scale=1.0, apply_unit_scale=True, add_leaf_bones=False,
            primary_bone_axis="Y", secondary_bone_axis="X", use_armature_deform_only=False,
            bake_anim=True, bake_anim_use_all_bones=True, bake_anim_use_nla_strips=False,
            bake_anim_use_all_actions=False, bake_anim_force_startend_keying=True,
            bake_anim_step=1.0, bake_anim_simplify_factor=0.0, mesh_smooth_type="FACE",
            **ENGINE_PRESETS[preset])
        if "FINISHED" not in result or not tmp.is_file():
            raise OSError(f"{path}: Blender's FBX exporter failed")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path
