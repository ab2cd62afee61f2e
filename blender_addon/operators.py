"""Operators (bpy.ops.handmocap.*): every action of the add-on, callable from Python.
Bad input becomes a one-line error report and {'CANCELLED'}, never a traceback."""
from __future__ import annotations

import json
from pathlib import Path

import bpy
from bpy_extras.io_utils import ExportHelper, ImportHelper

from .core.hand_model import HandModelError
from .core.motion_reader import MotionFileError
from .core.retarget import PRESETS, RIGMAP_DIR, BoneMapError, describe_match, detect_preset, match_presets
from .preferences import hand_model_path

USER_ERRORS = (MotionFileError, HandModelError, BoneMapError, OSError, ValueError, KeyError)
PRESET_ONLY_ITEMS = [(p, p.replace("_", " ").title(), f"Bone names of the {p} preset") for p in PRESETS]
PRESET_ITEMS = [("AUTO", "Detect", "The preset whose bone names match the target rig"), *PRESET_ONLY_ITEMS,
                ("CUSTOM", "Custom JSON", "A bone map JSON file (see Export Bone Map)")]


class HANDMOCAP_OT_import_motion(bpy.types.Operator, ImportHelper):
    """Import a handmocap motion file: armature, skinned hand mesh, keyframes and camera"""

    bl_idname = "handmocap.import_motion"
    bl_label = "Import Hand Motion"
    bl_options = {"REGISTER", "UNDO"}
    filename_ext = ".npz"
    filter_glob: bpy.props.StringProperty(default="*.motion.npz;*.motion.json;*.npz", options={"HIDDEN"})
    frame_offset: bpy.props.IntProperty(name="Frame offset", default=1,
                                        description="Scene frame of the video's frame 0")
    import_mesh: bpy.props.BoolProperty(name="Hand mesh", default=True)
    import_camera: bpy.props.BoolProperty(name="Camera", default=True)
    video_background: bpy.props.BoolProperty(name="Video as camera background", default=True)

    def execute(self, context):
        from .bl.build import import_motion

        try:
            root, arms = import_motion(self.filepath, context.scene, hand_model_path(context),
                                       self.frame_offset, self.import_mesh, self.import_camera,
                                       self.video_background)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if any(not a.get("handmocap_model_match", 1) for a in arms):
            self.report({"WARNING"}, "the motion was made with another hand model than the one "
                                     "set in the add-on preferences: the mesh may not fit")
        self.report({"INFO"}, f"imported {len(arms)} hand track(s) into '{root.name}'")
        return {"FINISHED"}


class HANDMOCAP_OT_retarget(bpy.types.Operator):
    """Transfer the hand motion of an imported armature onto a character rig's finger bones
    (rest-pose and bone-roll corrected) and bake it to an action on the rig"""

    bl_idname = "handmocap.retarget"
    bl_label = "Retarget Hand Motion"
    bl_options = {"REGISTER", "UNDO"}
    source: bpy.props.StringProperty(name="Source", description="Imported hand armature object")
    target: bpy.props.StringProperty(name="Target", description="Character armature object")
    preset: bpy.props.EnumProperty(name="Bone map", items=PRESET_ITEMS, default="AUTO")
    bone_map_path: bpy.props.StringProperty(name="Bone map JSON", subtype="FILE_PATH")
    side: bpy.props.EnumProperty(name="Target hand", items=[
        ("AUTO", "Same as source", ""), ("right", "Right", ""), ("left", "Left", "")], default="AUTO")
    transfer_wrist: bpy.props.BoolProperty(
        name="Wrist too", default=False,
        description="Also orient the target hand as the captured hand (camera view, world axes)")
    rest_correction: bpy.props.BoolProperty(
        name="Rest-pose correction", default=True,
        description="Align each target bone's rest direction with the source's first")
    action_name: bpy.props.StringProperty(name="Action", default="")

    def execute(self, context):
        from .bl.retarget import retarget, source_side

        try:
            src = _armature(self.source, "source")
            tgt = _armature(self.target, "target")
            side = source_side(src) if self.side == "AUTO" else self.side
            bone_map = self.bone_map_path if self.preset == "CUSTOM" else self.preset
            if self.preset == "CUSTOM" and not self.bone_map_path:
                raise ValueError("custom bone map: no JSON file given")
            if self.preset == "AUTO":
                bone_map = detect_preset(tgt.data.bones.keys(), side).preset
            action = retarget(context.scene, src, tgt, bone_map, side,
                              self.transfer_wrist, self.rest_correction, self.action_name or None)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc).strip("'\""))
            return {"CANCELLED"}
        self.report({"INFO"}, f"baked '{action.name}' on '{self.target}' (bone map {bone_map}, {side} hand)")
        return {"FINISHED"}


def _armature(name: str, role: str):
    obj = bpy.data.objects.get(name)
    if obj is None or obj.type != "ARMATURE":
        raise ValueError(f"{role} '{name}' is not an armature object in this file")
    return obj


class HANDMOCAP_OT_detect_bone_map(bpy.types.Operator):
    """Pick the bone-map preset whose bone names match the target rig; reports how many
    mapped bones matched and which are missing"""

    bl_idname = "handmocap.detect_bone_map"
    bl_label = "Detect Bone Map"
    bl_options = {"REGISTER", "UNDO"}
    target: bpy.props.StringProperty(name="Target", description="Character armature object")

    def execute(self, context):
        try:
            tgt = _armature(self.target, "target")
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        best = detect_into_settings(context.scene.handmocap, tgt)
        if not best.sides:
            self.report({"WARNING"}, f"no preset fits '{tgt.name}'; closest: {describe_match(best)}")
        else:
            self.report({"INFO"}, describe_match(best))
        return {"FINISHED"}


def detect_into_settings(settings, tgt):
    """Score the presets on `tgt`'s bones, keep the report on the scene's settings and
    select the best preset when it fits a whole hand. Returns the best PresetMatch."""
    best = match_presets(tgt.data.bones.keys())[0]
    settings.detect_report = describe_match(best)
    if best.sides and settings.preset != best.preset:
        settings.preset = best.preset
    return best


class HANDMOCAP_OT_export_bone_map(bpy.types.Operator, ExportHelper):
    """Write a bone-map preset to a JSON file, to edit and use as a custom map"""

    bl_idname = "handmocap.export_bone_map"
    bl_label = "Export Bone Map"
    filename_ext = ".json"
    preset: bpy.props.EnumProperty(name="Preset", items=PRESET_ONLY_ITEMS, default="mixamo")

    def execute(self, context):
        try:
            spec = json.loads((RIGMAP_DIR / f"{self.preset}.json").read_text())
            Path(self.filepath).write_text(json.dumps(spec, indent=2) + "\n")
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


class HANDMOCAP_OT_export_fbx(bpy.types.Operator, ExportHelper):
    """Export the hand armatures and meshes as FBX with an engine preset"""

    bl_idname = "handmocap.export_fbx"
    bl_label = "Export Hand Motion FBX"
    filename_ext = ".fbx"
    filter_glob: bpy.props.StringProperty(default="*.fbx", options={"HIDDEN"})
    preset: bpy.props.EnumProperty(name="Engine", items=[
        ("blender", "Blender", "Z-up, metres"), ("unity", "Unity", "Y-up, metres"),
        ("unreal", "Unreal", "Z-up, centimetres")], default="blender")

    def execute(self, context):
        from .bl.fbx import export_hand_fbx

        arms = [o for o in context.scene.objects if o.type == "ARMATURE" and "handmocap_side" in o]
        if not arms:
            self.report({"ERROR"}, "no imported hand armature in the scene")
            return {"CANCELLED"}
        try:
            export_hand_fbx(self.filepath, arms, self.preset)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}


def menu_import(self, context):
    self.layout.operator(HANDMOCAP_OT_import_motion.bl_idname, text="Hand Motion (.motion.npz)")


def menu_export(self, context):
    self.layout.operator(HANDMOCAP_OT_export_fbx.bl_idname, text="Hand Motion FBX (.fbx)")


CLASSES = (HANDMOCAP_OT_import_motion, HANDMOCAP_OT_retarget, HANDMOCAP_OT_detect_bone_map,
           HANDMOCAP_OT_export_bone_map, HANDMOCAP_OT_export_fbx)
