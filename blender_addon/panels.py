"""Sidebar panel (3D View > N > Hand Motion): thin wrappers over the operators, with the
retarget settings kept on the scene."""
from __future__ import annotations

import bpy

from .operators import PRESET_ITEMS


def _is_armature(self, obj):
    return obj.type == "ARMATURE"


class HANDMOCAP_PG_settings(bpy.types.PropertyGroup):
    source: bpy.props.PointerProperty(type=bpy.types.Object, poll=_is_armature, name="Source hand")
    target: bpy.props.PointerProperty(type=bpy.types.Object, poll=_is_armature, name="Target rig")
    preset: bpy.props.EnumProperty(items=PRESET_ITEMS, name="Bone map", default="mixamo")
    bone_map_path: bpy.props.StringProperty(name="Bone map JSON", subtype="FILE_PATH")
    side: bpy.props.EnumProperty(name="Target hand", items=[
        ("AUTO", "Same as source", ""), ("right", "Right", ""), ("left", "Left", "")], default="AUTO")
    transfer_wrist: bpy.props.BoolProperty(name="Wrist too", default=False)
    rest_correction: bpy.props.BoolProperty(name="Rest-pose correction", default=True)


class HANDMOCAP_PT_main(bpy.types.Panel):
    bl_label = "Hand Motion"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "Hand Motion"

    def draw(self, context):
        layout = self.layout
        layout.operator("handmocap.import_motion", icon="IMPORT")
        s = context.scene.handmocap
        box = layout.box()
        box.label(text="Retarget", icon="ARMATURE_DATA")
        for prop in ("source", "target", "preset"):
            box.prop(s, prop)
        if s.preset == "CUSTOM":
            box.prop(s, "bone_map_path")
        for prop in ("side", "transfer_wrist", "rest_correction"):
            box.prop(s, prop)
        row = box.row()
        row.enabled = bool(s.source and s.target)
        op = row.operator("handmocap.retarget", icon="PLAY")
        if s.source and s.target:
            op.source, op.target = s.source.name, s.target.name
        op.preset, op.bone_map_path, op.side = s.preset, s.bone_map_path, s.side
        op.transfer_wrist, op.rest_correction = s.transfer_wrist, s.rest_correction
        box.operator("handmocap.export_bone_map", icon="EXPORT")
        layout.operator("handmocap.export_fbx", icon="EXPORT")


CLASSES = (HANDMOCAP_PG_settings, HANDMOCAP_PT_main)
