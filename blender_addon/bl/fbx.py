"""FBX export with engine presets: imported hand armatures (and their meshes), or a
character rig with its retargeted, baked hand animation."""
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


def character_meshes(rig) -> list:
    """Meshes the rig deforms: its child meshes and any mesh with an armature modifier on it."""
    meshes = {c for c in rig.children_recursive if c.type == "MESH"}
    meshes |= {o for o in bpy.data.objects if o.type == "MESH" and
               any(m.type == "ARMATURE" and m.object == rig for m in o.modifiers)}
    return sorted(meshes, key=lambda o: o.name)


def export_character_fbx(path, rig, preset: str = "blender", deform_only: bool = True) -> Path:
    """Write a character rig, the meshes it deforms and its current action (the retargeted
    hands, baked every frame from the evaluated pose, so helper and control bones need not
    go along: deform_only keeps the deform bones, e.g. Rigify's DEF-*) to `path`."""
    return export_hand_fbx(path, [rig], preset, meshes=character_meshes(rig), deform_only=deform_only)


def export_hand_fbx(path, armatures, preset: str = "blender", meshes=None, deform_only: bool = False) -> Path:
    """Write the armatures, their child meshes (or `meshes`) and their actions (baked, every
    frame, no key reduction) to `path`, atomically. Returns the path."""
    if preset not in ENGINE_PRESETS:
        raise ValueError(f"unknown FBX preset '{preset}' (use {', '.join(ENGINE_PRESETS)})")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.partial.fbx")
    view_layer = bpy.context.view_layer
    for obj in view_layer.objects:
        obj.select_set(False)
    if meshes is None:
        meshes = [c for a in armatures for c in a.children if c.type == "MESH"]
    objs = list(armatures) + list(meshes)
    for obj in objs:
        obj.select_set(True)
    view_layer.objects.active = armatures[0]
    try:
        result = bpy.ops.export_scene.fbx(
            filepath=str(tmp), use_selection=True, object_types={"ARMATURE", "MESH"},
            global_scale=1.0, apply_unit_scale=True, add_leaf_bones=False,
            primary_bone_axis="Y", secondary_bone_axis="X", use_armature_deform_only=deform_only,
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
