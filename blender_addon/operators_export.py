"""Export operators: a character rig with its retargeted hand animation as FBX, and the
captured hands as BVH (the mocap interchange format)."""
from __future__ import annotations

import bpy
from bpy_extras.io_utils import ExportHelper

from .operators import USER_ERRORS, _armature

ENGINE_ITEMS = [("blender", "Blender", "Z-up, metres"), ("unity", "Unity", "Y-up, metres"),
                ("unreal", "Unreal", "Z-up, centimetres")]


class HANDMOCAP_OT_export_character_fbx(bpy.types.Operator, ExportHelper):
    """Export a character rig, the meshes it deforms and its retargeted hand animation
    (baked every frame) as FBX"""

    bl_idname = "handmocap.export_character_fbx"
    bl_label = "Export Character FBX"
    filename_ext = ".fbx"
    filter_glob: bpy.props.StringProperty(default="*.fbx", options={"HIDDEN"})
    target: bpy.props.StringProperty(name="Rig", description="Character armature object (default: active)")
    preset: bpy.props.EnumProperty(name="Engine", items=ENGINE_ITEMS, default="blender")
    deform_only: bpy.props.BoolProperty(
        name="Deform bones only", default=True,
        description="Leave out control and helper bones (e.g. Rigify's MCH/ORG): the animation is "
                    "baked from the evaluated pose, so the deform bones carry it")

    def execute(self, context):
        from .bl.fbx import export_character_fbx

        try:
            name = self.target or (context.object.name if context.object else "")
            rig = _armature(name, "rig")
            if rig.animation_data is None or rig.animation_data.action is None:
                raise ValueError(f"rig '{rig.name}' has no action: retarget a hand motion onto it first")
            path = export_character_fbx(self.filepath, rig, self.preset, self.deform_only)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {path}")
        return {"FINISHED"}


class HANDMOCAP_OT_export_bvh(bpy.types.Operator, ExportHelper):
    """Export the imported hands as BVH with Blender's BVH exporter (one file per hand:
    NAME_right.bvh, NAME_left.bvh when there are two)"""

    bl_idname = "handmocap.export_bvh"
    bl_label = "Export Hand Motion BVH"
    filename_ext = ".bvh"
    filter_glob: bpy.props.StringProperty(default="*.bvh", options={"HIDDEN"})
    units: bpy.props.EnumProperty(name="Units", items=[
        ("CM", "Centimetres", "What most BVH tools expect"), ("M", "Metres", "")], default="CM")
    hands: bpy.props.EnumProperty(name="Hands", items=[
        ("ALL", "All imported", ""), ("SELECTED", "Selected", "")], default="ALL")

    def execute(self, context):
        from .bl.bvh import export_hand_bvh

        arms = [o for o in context.scene.objects if o.type == "ARMATURE" and "handmocap_side" in o
                and (self.hands == "ALL" or o.select_get())]
        if not arms:
            self.report({"ERROR"}, "no imported hand armature in the scene" +
                        (" is selected" if self.hands == "SELECTED" else ""))
            return {"CANCELLED"}
        arms.sort(key=lambda o: o.get("handmocap_track", 0))
        try:
            paths = export_hand_bvh(self.filepath, arms, self.units)
        except USER_ERRORS as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, "wrote " + ", ".join(p.name for p in paths))
        return {"FINISHED"}


def menu_export(self, context):
    self.layout.operator(HANDMOCAP_OT_export_bvh.bl_idname, text="Hand Motion BVH (.bvh)")
    self.layout.operator(HANDMOCAP_OT_export_character_fbx.bl_idname, text="Character with Hand Motion (.fbx)")


CLASSES = (HANDMOCAP_OT_export_character_fbx, HANDMOCAP_OT_export_bvh)
