"""Keyframes through one helper that works with Blender 4.2's `action.fcurves` and the
slotted actions of 4.4+/5.x (where `action.fcurves` is gone)."""
from __future__ import annotations

import bpy
import numpy as np


def assign_new_action(obj, name: str, copy_from=None):
    """Give `obj` a new action (a copy of `copy_from` if given) and return it."""
    obj.animation_data_create()
    action = copy_from.copy() if copy_from is not None else bpy.data.actions.new(name)
    action.name = name
    obj.animation_data.action = action
    if hasattr(obj.animation_data, "action_slot") and obj.animation_data.action_slot is None:
        slots = getattr(action, "slots", None)
        if slots is not None and len(slots):
            obj.animation_data.action_slot = slots[0]
    return action


def fcurve(action, obj, data_path: str, index: int, group: str):
    """The F-curve of (data_path, index) on `obj`'s action, created if missing, emptied."""
    if hasattr(action, "fcurve_ensure_for_datablock"):  # Blender 4.4+
        fc = action.fcurve_ensure_for_datablock(obj, data_path, index=index, group_name=group)
    else:
        fc = action.fcurves.find(data_path, index=index) or \
            action.fcurves.new(data_path, index=index, action_group=group)
    fc.keyframe_points.clear()
    return fc


def set_keys(action, obj, data_path: str, frames: np.ndarray, values: np.ndarray, group: str) -> None:
    """Keyframe `data_path` of `obj`: frames (T,), values (T, C) -> C linear F-curves."""
    values = np.asarray(values, dtype=np.float64).reshape(len(frames), -1)
    for c in range(values.shape[1]):
        fc = fcurve(action, obj, data_path, c, group)
        fc.keyframe_points.add(len(frames))
        co = np.stack([np.asarray(frames, np.float64), values[:, c]], 1).ravel()
        fc.keyframe_points.foreach_set("co", co)
        fc.keyframe_points.foreach_set("interpolation",
                                       [bpy.types.Keyframe.bl_rna.properties["interpolation"]
                                        .enum_items["LINEAR"].value] * len(frames))
        fc.update()
