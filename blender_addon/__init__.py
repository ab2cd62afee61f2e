"""Hand Motion: track hands in a video, import handmocap motion files into Blender,
retarget them onto character rigs and export the result.

- File > Import > Hand Motion from Video (Track Video...): runs the installed `handmocap`
  command in the background (progress in the status bar and the sidebar, Esc cancels) and
  imports what it wrote.
- File > Import > Hand Motion: per hand track an armature (bones at the hand joints,
  local X = flexion axis), the skinned hand mesh and keyframes, plus a camera with the
  video's intrinsics and the video as its background.
- `bpy.ops.handmocap.retarget` bakes the motion onto Rigify (metarig or generated rig, FK
  or IK arm), Mixamo, UE5-mannequin, MakeHuman/MPFB or custom-mapped rigs; choosing a
  target detects the matching bone map.
- Exports: the hands as FBX (engine presets) or BVH; a character with its retargeted hands
  as FBX.
The core (./core) is numpy-only: it never imports bpy, torch or MediaPipe.
"""
from __future__ import annotations

import bpy

from . import operators, operators_export, operators_track, panels, preferences

_CLASSES = (preferences.HANDMOCAP_AP_preferences, *operators.CLASSES, *operators_track.CLASSES,
            *operators_export.CLASSES, *panels.CLASSES)
_MENUS = ((bpy.types.TOPBAR_MT_file_import, operators_track.menu_track),
          (bpy.types.TOPBAR_MT_file_import, operators.menu_import),
          (bpy.types.TOPBAR_MT_file_export, operators.menu_export),
          (bpy.types.TOPBAR_MT_file_export, operators_export.menu_export))


def register():
    for cls in _CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.handmocap = bpy.props.PointerProperty(type=panels.HANDMOCAP_PG_settings)
    for menu, entry in _MENUS:
        menu.append(entry)


def unregister():
    for menu, entry in reversed(_MENUS):
        menu.remove(entry)
    del bpy.types.Scene.handmocap
    for cls in reversed(_CLASSES):
        bpy.utils.unregister_class(cls)
