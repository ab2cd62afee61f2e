"""Retargeting onto the rigs users have: Rigify's Human metarig and the rig Rigify generates
from it (made by Blender in the test session), FK and IK arm modes, both hands.

Measured on the deform bones (DEF-f_index.01.R ...), what the character's mesh follows:
each finger bone's direction in its own hand's frame against the captured bone's, the
fingertips against the captured directions laid along the rig's own bone lengths, the
fist at the clip's closed frame, and (wrist transferred) the visible hand's orientation.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

from test_addon import clean_scene, install_addon, uninstall_addon  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
DIRECTION_TOL_DEG = 1.0  # mean per finger, the floor
HAND_TOL_DEG = 2.0  # visible hand orientation with "Wrist too"
TIP_TOL_M = 1e-3
CLOSED, OPEN = 13, 1  # scene frames where the synthetic clip is closed / open
FRAMES = range(1, 25, 2)


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon_rigify"))
    yield module
    uninstall_addon(module)


def load_scene(motion_npz, rigify_blend, rig_name):
    """Clean scene with the imported motion and the Rigify rig appended from the cache."""
    clean_scene()
    assert bpy.ops.handmocap.import_motion(filepath=str(motion_npz), import_camera=False) == {"FINISHED"}
    src = {o["handmocap_side"]: o for o in bpy.data.objects if o.type == "ARMATURE"}
    with bpy.data.libraries.load(str(rigify_blend), link=False) as (_, data_to):
        data_to.objects = [rig_name]
    rig = data_to.objects[0]
    bpy.context.scene.collection.objects.link(rig)
    return src, rig


def deform_names(side: str, generated: bool) -> dict:
    """MANO joint -> the bone the mesh follows (DEF-* on the generated rig)."""
    s = "R" if side == "right" else "L"
    pre = "DEF-" if generated else ""
    names = {"wrist": f"{pre}hand.{s}"}
    for f in FINGERS:
        for i in (1, 2, 3):
            names[f"{f}{i}"] = f"{pre}thumb.0{i}.{s}" if f == "thumb" else f"{pre}f_{f}.0{i}.{s}"
    return names


def posed(obj, names: dict):
    """World heads (dict), unit directions (dict) and tails (dict) of the named pose bones."""
    mw = obj.matrix_world
    heads, dirs, tails = {}, {}, {}
    for j, n in names.items():
        pb = obj.pose.bones[n]
        heads[j], tails[j] = np.array(mw @ pb.head), np.array(mw @ pb.tail)
        d = tails[j] - heads[j]
        dirs[j] = d / np.linalg.norm(d)
    return heads, dirs, tails


def hand_axes(heads: dict, side: str) -> np.ndarray:
    """Posed hand frame (3, 3): Y wrist->middle knuckle, Z out of the palm."""
    w = heads["wrist"]
    n = np.cross(heads["index1"] - w, heads["pinky1"] - w) * (1 if side == "right" else -1)
    y = (heads["middle1"] - w) / np.linalg.norm(heads["middle1"] - w)
    z = n - n @ y * y
    z /= np.linalg.norm(z)
    return np.stack([np.cross(y, z), y, z], 1)


def _deg(a, b) -> float:
    return math.degrees(math.acos(np.clip(a @ b, -1, 1)))


def measure(src, src_side, rig, rig_side, generated, frames=FRAMES):
    """Per finger: mean direction error (deg, each hand's frame) over frames and bones; the
    worst fingertip error (m); the worst hand-orientation difference (deg, world axes);
    fingertip-to-palm distances (in palm lengths) per frame for source and rig."""
    t_names = deform_names(rig_side, generated)
    s_names = {j: f"{j}.{src_side[0].upper()}" for j in t_names}  # the imported hand's bones
    errors = {f: [] for f in FINGERS}
    tip_err, hand_err, fist = 0.0, 0.0, {}
    for frame in frames:
        bpy.context.scene.frame_set(frame)
        sh, sd, st = posed(src, s_names)
        th, td, tt = posed(rig, t_names)
        Hs, Ht = hand_axes(sh, src_side), hand_axes(th, rig_side)
        hand_err = max(hand_err, math.degrees(math.acos(np.clip((np.trace(Hs.T @ Ht) - 1) / 2, -1, 1))))
        for f in FINGERS:
            tip = th[f"{f}1"].copy()
            for i in (1, 2, 3):
                j = f"{f}{i}"
                errors[f].append(_deg(Hs.T @ sd[j], Ht.T @ td[j]))
                length = np.linalg.norm(tt[j] - th[j])
                tip = tip + length * (Ht @ (Hs.T @ sd[j]))  # captured direction, the rig's length
            tip_err = max(tip_err, np.linalg.norm(tip - tt[f"{f}3"]))
        for key, h, t in (("src", sh, st), ("rig", th, tt)):
            centre = np.mean([h[j] for j in ("wrist", "index1", "middle1", "ring1", "pinky1")], 0)
            palm = np.linalg.norm(h["middle1"] - h["wrist"])
            fist[(key, frame)] = np.array([np.linalg.norm(t[f"{f}3"] - centre) / palm for f in FINGERS[1:]])
    return {f: float(np.mean(e)) for f, e in errors.items()}, tip_err, hand_err, fist


def set_arm_mode(rig, side: str, mode: str) -> None:
    """Rigify's IK/FK switch: IK_FK = 0 is IK (the generated rig's default), 1 is FK."""
    rig.pose.bones[f"upper_arm_parent.{side[0].upper()}"]["IK_FK"] = 0.0 if mode == "IK" else 1.0
    rig.update_tag()
    bpy.context.view_layer.update()


@pytest.mark.parametrize("mode", ["FK", "IK"])
@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("wrist", [False, True], ids=["fingers", "wrist_too"])
def test_generated_rig_follows_capture(addon, motion_npz, rigify_blend, mode, side, wrist):
    src, rig = load_scene(motion_npz, rigify_blend, "rig")
    set_arm_mode(rig, side, mode)
    if mode == "IK":  # a character whose hand the animator turned with the IK control
        rig.pose.bones[f"hand_ik.{side[0].upper()}"].rotation_quaternion = (0.9, 0.3, -0.2, 0.25)
    assert bpy.ops.handmocap.retarget(source=src[side].name, target=rig.name, preset="rigify",
                                      transfer_wrist=wrist) == {"FINISHED"}
    per_finger, tip_err, hand_err, fist = measure(src[side], side, rig, side, generated=True)
    print(f"\nrigify {mode} {side} wrist={wrist}: direction error per finger (deg) "
          + " ".join(f"{f} {e:.3f}" for f, e in per_finger.items())
          + f"; fingertips {tip_err * 1000:.3f} mm; hand orientation {hand_err:.3f} deg")
    assert max(per_finger.values()) < DIRECTION_TOL_DEG, per_finger
    assert tip_err < TIP_TOL_M
    if wrist:
        assert hand_err < HAND_TOL_DEG
    # a fist stays a fist: closed fingertips as near the palm (in palm lengths) as captured
    assert np.abs(fist[("rig", CLOSED)] - fist[("src", CLOSED)]).max() < 0.15
    assert np.all(fist[("rig", CLOSED)] < 0.8 * fist[("rig", OPEN)])
    keyed = {fc.data_path.split('"')[1] for fc in _fcurves(rig.animation_data.action)}
    hand_control = {"FK": "hand_fk", "IK": "hand_ik"}[mode] + f".{side[0].upper()}"
    assert (hand_control in keyed) == wrist
    assert f"hand_fk.{side[0].upper()}" not in keyed or mode == "FK"


def test_metarig_follows_capture(addon, motion_npz, rigify_blend):
    """The metarig itself (preset rigify_metarig), right track onto the left hand too."""
    src, rig = load_scene(motion_npz, rigify_blend, "metarig")
    for side in ("right", "left"):
        assert bpy.ops.handmocap.retarget(source=src[side].name, target=rig.name, preset="rigify_metarig",
                                          transfer_wrist=True) == {"FINISHED"}
        per_finger, tip_err, hand_err, _ = measure(src[side], side, rig, side, generated=False, frames=(1, 7, 13))
        assert max(per_finger.values()) < 0.05 and tip_err < 1e-5 and hand_err < 0.05


def _fcurves(action):
    if hasattr(action, "layers") and len(action.layers):
        return [fc for strip in action.layers[0].strips for bag in strip.channelbags for fc in bag.fcurves]
    return list(action.fcurves)


@pytest.mark.parametrize("rig_name, preset", [("rig", "rigify"), ("metarig", "rigify_metarig")])
def test_choosing_a_target_detects_its_bone_map(addon, motion_npz, rigify_blend, rig_name, preset):
    src, rig = load_scene(motion_npz, rigify_blend, rig_name)
    settings = bpy.context.scene.handmocap
    settings.preset = "mixamo"
    settings.target = rig  # the panel's target field: its update detects the map
    assert settings.preset == preset
    assert settings.detect_report == f"{preset}: 32 of 32 mapped bones (right and left hands)"
    # a rig missing bones: the report lists them, the retarget's AUTO map names them
    s = "L"
    bpy.context.view_layer.objects.active = rig
    bpy.ops.object.mode_set(mode="EDIT")
    for name in (f"thumb.03.{s}", f"f_pinky.03.{s}"):
        rig.data.edit_bones.remove(rig.data.edit_bones[name])
    bpy.ops.object.mode_set(mode="OBJECT")
    assert bpy.ops.handmocap.detect_bone_map(target=rig.name) == {"FINISHED"}
    assert settings.detect_report == (f"{preset}: 30 of 32 mapped bones (right hand); missing: "
                                      f"f_pinky.03.{s}, thumb.03.{s}")
    assert bpy.ops.handmocap.retarget(source=src["right"].name, target=rig.name) == {"FINISHED"}
    with pytest.raises(RuntimeError, match=f"no preset fits this rig \\(left hand\\); closest: {preset}: "
                                           f"30 of 32 mapped bones .*missing: f_pinky.03.L, thumb.03.L"):
        bpy.ops.handmocap.retarget(source=src["left"].name, target=rig.name)
