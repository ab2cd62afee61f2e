"""Hand Motion: import handmocap motion files into Blender and retarget them onto rigs.

File > Import > Track Video... runs the installed handmocap command on a video in the
background and imports the result. File > Import > Hand Motion builds, per hand track, an armature (bones at the hand joints,
local X = flexion axis), the skinned hand mesh and keyframes, plus a camera with the
video's intrinsics. `bpy.ops.handmocap.retarget` transfers the motion onto Rigify, Mixamo,
UE5-mannequin, MakeHuman/MPFB or custom-mapped rigs. The core (../core) is numpy-only.
"""
from __future__ import annotations

import bpy

from . import operators, operators_track, panels, preferences

_CLASSES = (preferences.HANDMOCAP_AP_preferences, *operators.CLASSES, *operators_track.CLASSES,
            *panels.CLASSES)


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.handmocap = bpy.props.PointerProperty(type=panels.HANDMOCAP_PG_settings)
    bpy.types.TOPBAR_MT_file_import.append(operators.menu_import)
    bpy.types.TOPBAR_MT_file_import.append(operators_track.menu_track)
    bpy.types.TOPBAR_MT_file_export.append(operators.menu_export)


def unregister():
    bpy.types.TOPBAR_MT_file_export.remove(operators.menu_export)
    bpy.types.TOPBAR_MT_file_import.remove(operators_track.menu_track)
    bpy.types.TOPBAR_MT_file_import.remove(operators.menu_import)
    del bpy.types.Scene.handmocap
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
