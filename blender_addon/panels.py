"""Sidebar panel (3D View > N > Hand Motion): thin wrappers over the operators, with the
retarget settings kept on the scene."""
from __future__ import annotations

import bpy

from . import operators_track
from .operators import PRESET_ITEMS, detect_into_settings


def _is_armature(self, obj):
    return obj.type == "ARMATURE"


def _detect_on_target(self, context):
    """Choosing a target picks the matching bone map and says what matched."""
    if self.target is not None and self.target.type == "ARMATURE" and self.preset != "CUSTOM":
        detect_into_settings(self, self.target)
    elif self.target is None:
        self.detect_report = ""


class HANDMOCAP_PG_settings(bpy.types.PropertyGroup):
    source: bpy.props.PointerProperty(type=bpy.types.Object, poll=_is_armature, name="Source hand")
    target: bpy.props.PointerProperty(type=bpy.types.Object, poll=_is_armature, name="Target rig",
                                      update=_detect_on_target)
    preset: bpy.props.EnumProperty(items=PRESET_ITEMS, name="Bone map", default="AUTO")
    detect_report: bpy.props.StringProperty(name="Detected", default="")
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
        job = operators_track.ACTIVE["job"]
        if job is not None:  # a Track Video run in progress (Esc in the 3D view cancels)
            frames = f"{job.done}/{job.total} frames" if job.total else "starting"
            layout.progress(factor=job.fraction, type="BAR", text=f"{operators_track.ACTIVE['name']}: {frames}")
        else:
            layout.operator("handmocap.track_video", icon="FILE_MOVIE")
        layout.operator("handmocap.import_motion", icon="IMPORT")
        s = context.scene.handmocap
        box = layout.box()
        box.label(text="Retarget", icon="ARMATURE_DATA")
        for prop in ("source", "target", "preset"):
            box.prop(s, prop)
        if s.detect_report:
            col = box.column(align=True)
            for k, part in enumerate(s.detect_report.split("; ")):
                col.label(text=part, icon="INFO" if k == 0 else "ERROR")
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
        if s.target:
            box.operator("handmocap.export_character_fbx", icon="EXPORT").target = s.target.name
        col = layout.column(align=True)
        col.operator("handmocap.export_fbx", icon="EXPORT")
        col.operator("handmocap.export_bvh", icon="EXPORT")


CLASSES = (HANDMOCAP_PG_settings, HANDMOCAP_PT_main)
