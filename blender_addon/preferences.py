"""Add-on preferences: an optional MANO-format hand model (.npz) used instead of the
bundled open hand (for motions made with a user's own licensed model), and the handmocap
command Track Video runs."""
from __future__ import annotations

import bpy


class HANDMOCAP_AP_preferences(bpy.types.AddonPreferences):
    bl_idname = __package__

    hand_model_path: bpy.props.StringProperty(
        name="Hand model (.npz)", subtype="FILE_PATH", default="",
        description="MANO-layout .npz (v_template, shapedirs, J_regressor, weights, f) for the "
                    "hand mesh; empty = the bundled open hand")

    tracker_path: bpy.props.StringProperty(
        name="handmocap command", subtype="FILE_PATH", default="",
        description="The handmocap executable used by Track Video (e.g. <venv>/bin/handmocap); "
                    "empty = find 'handmocap' on PATH")

    def draw(self, context):
        self.layout.prop(self, "hand_model_path")
        self.layout.prop(self, "tracker_path")


def tracker_path(context) -> str | None:
    """The preference's handmocap executable, or None to search PATH."""
    addon = context.preferences.addons.get(__package__)
    path = addon.preferences.tracker_path if addon and addon.preferences else ""
    return bpy.path.abspath(path) if path else None


def hand_model_path(context) -> str | None:
    """The preference's path, or None for the bundled model."""
    addon = context.preferences.addons.get(__package__)
    path = addon.preferences.hand_model_path if addon and addon.preferences else ""
    return bpy.path.abspath(path) if path else None
