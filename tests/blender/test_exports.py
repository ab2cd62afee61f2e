"""Exports from Blender, re-read by Blender's own importers: the captured hands as BVH
(joint rotations and positions), and a generated Rigify character with its retargeted
hands as FBX (deform bones only)."""
from __future__ import annotations

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_addon import clean_scene, install_addon, uninstall_addon  # noqa: E402
from test_rigify import load_scene  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
BVH_ROT_TOL_DEG = 0.5  # the floor; BVH stores 6 decimals of Euler degrees
BVH_POS_TOL_M = 1e-4
FBX_POS_TOL_M = 1e-4


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon_exports"))
    yield module
    uninstall_addon(module)


def _rot(m) -> np.ndarray:
    r = np.array(m.to_3x3())
    return r / np.linalg.norm(r, axis=0)


def joint_deltas(arm, frame, names):
    """World rotation of each joint from its rest (roll-free: BVH has no bone rolls) and
    world head positions."""
    bpy.context.scene.frame_set(frame)
    mw = arm.matrix_world
    rots = [_rot(mw @ arm.pose.bones[n].matrix) @ _rot(mw @ arm.data.bones[n].matrix_local).T for n in names]
    heads = [np.array(mw @ arm.pose.bones[n].head) for n in names]
    return np.array(rots), np.array(heads)


def _angles(a, b) -> np.ndarray:
    cos = (np.trace(np.swapaxes(a, -1, -2) @ b, axis1=-2, axis2=-1) - 1) / 2
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


@pytest.mark.parametrize("units, scale", [("CM", 0.01), ("M", 1.0)])
def test_bvh_reimports_with_the_captured_rotations(addon, motion_npz, tmp_path, units, scale):
    clean_scene()
    assert bpy.ops.handmocap.import_motion(filepath=str(motion_npz)) == {"FINISHED"}
    arms = sorted((o for o in bpy.data.objects if o.type == "ARMATURE"), key=lambda o: o["handmocap_track"])
    before = set(bpy.data.objects)
    out = tmp_path / "bvh"
    assert bpy.ops.handmocap.export_bvh(filepath=str(out / "hands.bvh"), units=units) == {"FINISHED"}
    assert sorted(p.name for p in out.iterdir()) == ["hands_left.bvh", "hands_right.bvh"]
    assert set(bpy.data.objects) == before  # the temporary copies are gone
    worst_rot, worst_pos = 0.0, 0.0
    for arm in arms:
        path = out / f"hands_{arm['handmocap_side']}.bvh"
        text = path.read_text()
        assert text.startswith("HIERARCHY\nROOT wrist.") and "Frames: 24" in text
        names = [b.name for b in arm.data.bones]
        bpy.ops.import_anim.bvh(filepath=str(path), global_scale=scale, use_fps_scale=False,
                                update_scene_fps=False, update_scene_duration=False)
        imported = bpy.context.view_layer.objects.active
        assert imported is not arm and sorted(b.name for b in imported.data.bones) == sorted(names)
        for frame in (1, 7, 13, 20):
            r0, h0 = joint_deltas(arm, frame, names)
            r1, h1 = joint_deltas(imported, frame, names)
            worst_rot = max(worst_rot, _angles(r0, r1).max())
            worst_pos = max(worst_pos, np.abs(h0 - h1).max())
    print(f"\nBVH ({units}) round trip: joint rotations within {worst_rot:.4f} deg, heads within "
          f"{worst_pos * 1000:.4f} mm")
    assert worst_rot < BVH_ROT_TOL_DEG and worst_pos < BVH_POS_TOL_M


def test_bvh_without_hands_is_an_error(addon, tmp_path):
    clean_scene()
    with pytest.raises(RuntimeError, match="no imported hand armature"):
        bpy.ops.handmocap.export_bvh(filepath=str(tmp_path / "x.bvh"))
    assert not list(tmp_path.iterdir())


def test_character_fbx_carries_the_retargeted_hands(addon, motion_npz, rigify_blend, tmp_path):
    """A generated Rigify rig in IK mode with the right hand and wrist retargeted: the FBX
    holds the deform bones (and the helpers they hang under), with the baked motion."""
    src, rig = load_scene(motion_npz, rigify_blend, "rig")
    assert bpy.ops.handmocap.retarget(source=src["right"].name, target=rig.name, transfer_wrist=True) == {"FINISHED"}
    path = tmp_path / "character.fbx"
    assert bpy.ops.handmocap.export_character_fbx(filepath=str(path), target=rig.name) == {"FINISHED"}
    names = [f"DEF-{f}.0{i}.R" for f in ("thumb", "f_index", "f_middle", "f_ring", "f_pinky") for i in (1, 2, 3)]
    names.append("DEF-hand.R")
    rig_bones = len(rig.data.bones)
    expected = {}
    for frame in (1, 7, 13, 20):
        bpy.context.scene.frame_set(frame)
        expected[frame] = {n: (np.array(rig.matrix_world @ rig.pose.bones[n].head),
                               _rot(rig.matrix_world @ rig.pose.bones[n].matrix)) for n in names}
    clean_scene()
    bpy.context.scene.render.fps = 24
    bpy.ops.import_scene.fbx(filepath=str(path), anim_offset=0)  # FBX time f/fps on frame f
    arm = next(o for o in bpy.data.objects if o.type == "ARMATURE")
    exported = set(arm.data.bones.keys())
    assert set(names) <= exported and len(exported) < rig_bones / 2
    assert not exported & {"f_index.01.R", "hand_ik.R", "hand_fk.R", "MCH-f_index.02_drv.R"}
    worst_pos, worst_rot = 0.0, 0.0
    for frame, bones in expected.items():
        bpy.context.scene.frame_set(frame)
        for n, (head, rot) in bones.items():
            pb = arm.pose.bones[n]
            worst_pos = max(worst_pos, np.abs(np.array(arm.matrix_world @ pb.head) - head).max())
            worst_rot = max(worst_rot, float(_angles(rot, _rot(arm.matrix_world @ pb.matrix))))
    print(f"\ncharacter FBX round trip: DEF hand and finger bones within {worst_pos * 1000:.4f} mm, "
          f"{worst_rot:.4f} deg")
    assert worst_pos < FBX_POS_TOL_M and worst_rot < 0.1
    # the motion is there: the index tip moved between the open and the closed frame
    assert np.linalg.norm(expected[13]["DEF-f_index.03.R"][0] - expected[1]["DEF-f_index.03.R"][0]) > 0.005
