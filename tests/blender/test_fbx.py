"""FBX export via bpy (headless): written with engine presets, re-imported with Blender's
own FBX importer; the `handmocap export` command."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from handmocap.errors import InputError  # noqa: E402
from handmocap.export.fbx import export_fbx, load_addon_package  # noqa: E402
from handmocap.hand.joints import MANO_TO_KEYPOINTS  # noqa: E402

# one worker runs every bpy test in order: bpy state (preferences, add-ons) is per process
pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
POSITION_TOL_M = 1e-3  # re-imported bone heads vs the motion's keypoints_cam
ROTATION_TOL_DEG = 0.1  # re-imported posed bone orientations vs the add-on's own import
CV_TO_WORLD = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
JOINT_KEYPOINT = [MANO_TO_KEYPOINTS.index(j) for j in range(16)]
# FBX GlobalSettings: UpAxis (1 = Y, 2 = Z) and UnitScaleFactor (centimetres per unit)
EXPECTED_AXES = {"blender": (2, 100.0), "unity": (1, 100.0), "unreal": (2, 1.0)}


def fbx_global_settings(path: Path) -> dict:
    from io_scene_fbx import parse_fbx

    root, _ = parse_fbx.parse(str(path))
    gs = next(e for e in root.elems if e.id == b"GlobalSettings")
    props = next(e for e in gs.elems if e.id == b"Properties70")
    return {p.props[0].decode(): p.props[-1] for p in props.elems}


def posed_bones(arm, frame):
    bpy.context.scene.frame_set(frame)
    mw = arm.matrix_world
    names = [b.name for b in arm.data.bones]
    heads = np.array([list(mw @ arm.pose.bones[n].head) for n in names])
    rots = np.array([np.array((mw @ arm.pose.bones[n].matrix).to_3x3().normalized()) for n in names])
    return names, heads, rots


def reference_rotations(motion, tmp_path):
    """Posed bone rotations of the add-on's own import (video frame f on scene frame f + 1)."""
    build = __import__(load_addon_package().__name__ + ".bl.build", fromlist=["x"])
    from handmocap.motion import save_motion

    path = save_motion(motion, tmp_path / "ref")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    _, arms = build.import_motion(path)
    return {a["handmocap_track"]: {f: posed_bones(a, f + 1)[2] for f in (0, 7, 12, 20)} for a in arms}


@pytest.mark.parametrize("preset", ["blender", "unity", "unreal"])
def test_fbx_round_trip(motion, tmp_path, preset):
    ref = reference_rotations(motion, tmp_path)
    path = export_fbx(motion, tmp_path / f"hands_{preset}.fbx", preset=preset)
    assert path.is_file() and not list(tmp_path.glob(".*partial*"))
    up, unit = EXPECTED_AXES[preset]
    gs = fbx_global_settings(path)
    assert (gs["UpAxis"], gs["UnitScaleFactor"]) == (up, pytest.approx(unit))

    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    assert bpy.ops.import_scene.fbx(filepath=str(path)) == {"FINISHED"}
    arms = sorted((o for o in bpy.data.objects if o.type == "ARMATURE"), key=lambda o: o.name)
    assert len(arms) == len(motion.tracks)
    assert len({a.animation_data.action.name for a in arms}) == len(arms)  # one action per track
    assert bpy.context.scene.render.fps / bpy.context.scene.render.fps_base == pytest.approx(motion.fps)
    worst_pos = worst_rot = 0.0
    for arm, track in zip(arms, motion.tracks):
        assert len(arm.data.bones) == 16
        assert any(c.type == "MESH" and c.modifiers and c.modifiers[0].type == "ARMATURE" for c in arm.children)
        # Blender's importer shifts FBX time 0 to frame 1: the add-on's own frame numbering
        assert tuple(arm.animation_data.action.frame_range) == (1.0, float(motion.num_frames))
        for f in (0, 7, 12, 20):
            names, heads, rots = posed_bones(arm, f + 1)
            assert names[0].startswith("wrist")
            kp = np.asarray(track.keypoints_cam[f], np.float64) @ CV_TO_WORLD.T
            worst_pos = max(worst_pos, np.abs(heads - kp[JOINT_KEYPOINT]).max())
            dR = np.einsum("jab,jac->jbc", ref[track.track_id][f], rots)
            ang = np.degrees(np.arccos(np.clip((np.trace(dR, axis1=1, axis2=2) - 1) / 2, -1, 1)))
            worst_rot = max(worst_rot, ang.max())
    assert worst_pos < POSITION_TOL_M, f"{worst_pos * 1000:.3f} mm"
    assert worst_rot < ROTATION_TOL_DEG, f"{worst_rot:.4f} deg"


def test_fbx_bad_input(motion, tmp_path):
    with pytest.raises(InputError, match="unknown FBX preset 'maya'"):
        export_fbx(motion, tmp_path / "x.fbx", preset="maya")
    motion.tracks = []
    with pytest.raises(InputError, match="no hand track"):
        export_fbx(motion, tmp_path / "x.fbx")
    assert not list(tmp_path.iterdir())


def test_cli_export_fbx(motion_file, tmp_path):
    from typer.testing import CliRunner

    from handmocap_cli.app import _register, app

    _register()
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["export", str(motion_file), "--format", "fbx", "--out", str(out),
                                   "--preset", "unreal"])
    assert res.exit_code == 0, res.output
    fbx = out / "synthetic.fbx"
    assert fbx.is_file() and fbx_global_settings(fbx)["UnitScaleFactor"] == pytest.approx(1.0)
    res = CliRunner().invoke(app, ["export", str(tmp_path / "missing.motion.npz"), "--format", "fbx"])
    assert res.exit_code != 0 and "motion file not found" in str(res.exception)
    res = CliRunner().invoke(app, ["export", str(motion_file), "--format", "bvh"])
    assert res.exit_code != 0 and "unknown export format 'bvh'" in str(res.exception)
