"""Retargeting onto character rigs built in the test in the styles of Mixamo, UE5's
mannequin, MakeHuman/MPFB and Rigify's metarig: other rest poses (relaxed, curled fingers,
turned hand, object transform), each family's bone rolls, metacarpal bones, another size
than the captured hand, both hands. (The real Rigify rigs: test_rigify.py.)"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
from mathutils import Matrix, Vector  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_addon import clean_scene, install_addon, uninstall_addon  # noqa: E402

# one worker runs every bpy test in order: bpy state (preferences, add-ons) is per process
pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
TIP_TOL_M = 1e-3  # fingertips relative to the wrist, in hand axes, scaled to the source hand
FIST_TOL = 0.03  # fingertip-to-palm distance, in palm lengths
SCALE = 1.35  # target hand size / captured hand size
FINGERS = ("thumb", "index", "middle", "ring", "pinky")


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon_rt"))
    yield module
    uninstall_addon(module)


def _rot(axis, angle) -> np.ndarray:
    return np.array(Matrix.Rotation(angle, 3, axis))


def rig_names(kind: str, side: str) -> dict:
    """MANO joint name -> target bone name for the test rigs."""
    S, s = ("Right", "R") if side == "right" else ("Left", "L")
    if kind == "mixamo":
        names = {"wrist": f"mixamorig:{S}Hand"}
        names.update({f"{f}{i}": f"mixamorig:{S}Hand{f.capitalize()}{i}" for f in FINGERS for i in (1, 2, 3)})
    elif kind == "ue5":
        names = {"wrist": f"hand_{s.lower()}"}
        names.update({f"{f}{i}": f"{f}_0{i}_{s.lower()}" for f in FINGERS for i in (1, 2, 3)})
    elif kind == "mpfb":
        names = {"wrist": f"wrist.{s}"}
        names.update({f"{f}{i}": f"finger{k + 1}-{i}.{s}" for k, f in enumerate(FINGERS) for i in (1, 2, 3)})
    else:
        names = {"wrist": f"hand.{s}"}
        names.update({f"{f}{i}": (f"thumb.0{i}.{s}" if f == "thumb" else f"f_{f}.0{i}.{s}")
                      for f in FINGERS for i in (1, 2, 3)})
    return names


def metacarpal_name(kind: str, finger: str, side: str) -> str | None:
    """The bone between the hand and a finger's first bone, in rigs that have one."""
    s = "R" if side == "right" else "L"
    if finger == "thumb" or kind == "mixamo":
        return None
    return {"ue5": f"{finger}_metacarpal_{s.lower()}",
            "mpfb": f"metacarpal{FINGERS.index(finger)}.{s}",
            "rigify": f"palm.{finger}.{s}"}[kind]


# Rest curl of each finger joint (rad, about the joint's flexion axis): relaxed, not flat
REST_CURL = {"thumb": (0.10, 0.15, 0.10), "index": (0.12, 0.20, 0.15), "middle": (0.14, 0.22, 0.16),
             "ring": (0.16, 0.24, 0.17), "pinky": (0.18, 0.26, 0.18)}


def roll_axis(kind: str, side: str, flex: np.ndarray, palm: np.ndarray, rng) -> np.ndarray:
    """The direction the bone's local Z should face, per rig family (left = mirrored):
    Mixamo-style: Z along the flexion axis (fingers curl about Z); UE5-style: Z out of the
    back of the hand; MakeHuman/MPFB-style: Z out of the palm; Rigify-metarig-style: random."""
    mirror = 1.0 if side == "right" else -1.0
    if kind == "mixamo":
        return mirror * flex
    if kind == "ue5":
        return -palm
    if kind == "mpfb":
        return palm
    return rng.normal(size=3)


def build_rig(kind: str, src, side: str, prefix_fix=None):
    """A character-style rig made from the source hand's rest joints, but: SCALE times
    bigger, the hand turned (T-pose-like), fingers relaxed at rest (every joint curled a
    little, REST_CURL), the family's bone rolls (roll_axis), a forearm, metacarpal bones
    between the hand and the fingers (UE5, MPFB, Rigify palms), Mixamo's end bones, and an
    object transform."""
    names = rig_names(kind, side)
    if prefix_fix:
        names = {k: prefix_fix(v) for k, v in names.items()}
    mw = src.matrix_world
    heads = {n.rsplit(".", 1)[0]: np.array(mw @ b.head_local) for n, b in src.data.bones.items()}
    tails = {n.rsplit(".", 1)[0]: np.array(mw @ b.tail_local) for n, b in src.data.bones.items()}
    xaxis = {n.rsplit(".", 1)[0]: np.array((mw.to_3x3() @ b.matrix_local.to_3x3()).col[0])
             for n, b in src.data.bones.items()}
    zaxis = {n.rsplit(".", 1)[0]: np.array((mw.to_3x3() @ b.matrix_local.to_3x3()).col[2])
             for n, b in src.data.bones.items()}
    wrist = heads["wrist"].copy()
    for f in FINGERS:  # curl each joint about its own flexion axis, distal joints following
        for i, angle in zip((1, 2, 3), REST_CURL[f]):
            R = _rot(Vector(xaxis[f"{f}{i}"]), angle)
            c = heads[f"{f}{i}"].copy()
            for k in range(i, 4):
                if k > i:
                    heads[f"{f}{k}"] = c + R @ (heads[f"{f}{k}"] - c)
                tails[f"{f}{k}"] = c + R @ (tails[f"{f}{k}"] - c)
                xaxis[f"{f}{k}"], zaxis[f"{f}{k}"] = R @ xaxis[f"{f}{k}"], R @ zaxis[f"{f}{k}"]
    turn = _rot("Z", 1.1) @ _rot("X", -0.6)
    place = lambda p: turn @ (SCALE * (p - wrist))  # noqa: E731
    rng = np.random.default_rng(1 if side == "right" else 2)
    arm_data = bpy.data.armatures.new(f"{kind}_{side}")
    obj = bpy.data.objects.new(f"{kind}_{side}", arm_data)
    bpy.context.scene.collection.objects.link(obj)
    obj.matrix_world = Matrix.Translation((0.7, -0.3, 1.2)) @ Matrix.Rotation(0.4, 4, "Z")
    bpy.context.view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    eb = arm_data.edit_bones

    def bone(name, head, tail, parent=None, joint="wrist"):
        b = eb.new(name)
        b.head, b.tail = Vector(head), Vector(tail)
        b.align_roll(Vector(turn @ roll_axis(kind, side, xaxis[joint], zaxis[joint], rng)))
        b.parent = parent
        return b

    fore = bone("forearm", place(wrist - 2 * (heads["middle1"] - wrist)), place(wrist))
    hand = bone(names["wrist"], place(wrist), place(heads["middle1"]), fore)
    for f in FINGERS:
        parent = hand
        meta = metacarpal_name(kind, f, side)
        if meta:  # metacarpals: from near the wrist to the knuckle
            base = f"{f}1"
            parent = bone(meta, place(wrist + 0.15 * (heads[base] - wrist)), place(heads[base]), hand, base)
        for i in (1, 2, 3):
            j = f"{f}{i}"
            parent = bone(names[j], place(heads[j]), place(tails[j]), parent, j)
        if kind == "mixamo":  # Mixamo's end bones (Index4 ...)
            tip = tails[f"{f}3"]
            bone(names[f"{f}3"].replace("3", "4"), place(tip), place(tip + 0.3 * (tip - heads[f"{f}3"])),
                 parent, f"{f}3")
    bpy.ops.object.mode_set(mode="OBJECT")
    return obj, names


def hand_points(obj, names: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posed world points: wrist (3,), hand frame (3, 3), fingertips (5, 3) (distal tails)."""
    mw = obj.matrix_world
    head = lambda j: np.array(mw @ obj.pose.bones[names[j]].head)  # noqa: E731
    w, i, m, p = head("wrist"), head("index1"), head("middle1"), head("pinky1")
    side = "right" if names["wrist"].lower().endswith(("r", "righthand")) else "left"
    n = np.cross(i - w, p - w) * (1 if side == "right" else -1)
    y = (m - w) / np.linalg.norm(m - w)
    z = n - n @ y * y
    z /= np.linalg.norm(z)
    H = np.stack([np.cross(y, z), y, z], 1)
    tips = np.array([np.array(mw @ obj.pose.bones[names[f"{f}3"]].tail) for f in FINGERS])
    return w, H, tips


def compare(src, src_names, tgt, tgt_names, frames):
    """Max fingertip error (m, source scale) over `frames`, and per-frame fist measures."""
    worst, fist = 0.0, {}
    for f in frames:
        bpy.context.scene.frame_set(f)
        rel = {}
        for key, obj, names in (("s", src, src_names), ("t", tgt, tgt_names)):
            w, H, tips = hand_points(obj, names)
            palm = np.linalg.norm(np.array(obj.matrix_world @ obj.pose.bones[names["middle1"]].head) - w)
            rel[key] = (tips - w) @ H / palm
            centre = np.mean([np.array(obj.matrix_world @ obj.pose.bones[names[j]].head) for j in
                              ("wrist", "index1", "middle1", "ring1", "pinky1")], 0)
            fist[(key, f)] = np.linalg.norm(tips[1:] - centre, axis=1) / palm
        palm_s = np.linalg.norm(np.array(src.matrix_world @ src.pose.bones[src_names["middle1"]].head) -
                                np.array(src.matrix_world @ src.pose.bones[src_names["wrist"]].head))
        worst = max(worst, np.abs(rel["t"] - rel["s"]).max() * palm_s)
    return worst, fist


def import_source(motion_npz):
    clean_scene()
    assert bpy.ops.handmocap.import_motion(filepath=str(motion_npz), import_camera=False) == {"FINISHED"}
    arms = {o["handmocap_side"]: o for o in bpy.data.objects if o.type == "ARMATURE"}
    return arms


@pytest.mark.parametrize("kind, preset", [("mixamo", "mixamo"), ("rigify", "rigify_metarig"),
                                          ("ue5", "ue5_mannequin"), ("mpfb", "mpfb")])
@pytest.mark.parametrize("side", ["right", "left"])
def test_fingertips_follow_and_fist_stays_fist(addon, motion_npz, kind, preset, side):
    src = import_source(motion_npz)[side]
    tgt, tnames = build_rig(kind, src, side)
    snames = {b.rsplit(".", 1)[0]: b for b in src.data.bones.keys()}
    assert bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset=preset) == {"FINISHED"}
    assert tgt.animation_data.action is not None
    frames = range(1, 25)
    worst, fist = compare(src, snames, tgt, tnames, frames)
    assert worst < TIP_TOL_M, f"fingertips off by {worst * 1000:.3f} mm"
    closed, opened = 13, 1  # the synthetic clip closes half way
    assert np.abs(fist[("t", closed)] - fist[("s", closed)]).max() < FIST_TOL
    assert np.all(fist[("t", closed)] < 0.8 * fist[("t", opened)])  # closed: tips near the palm
    # the rig's own rest pose and rolls are kept: the hand bone (not driven) did not move
    bpy.context.scene.frame_set(closed)
    assert tgt.pose.bones[tnames["wrist"]].matrix_basis == Matrix.Identity(4)


def test_rest_pose_correction_matters(addon, motion_npz):
    """Without rest-pose correction the rig's curled rest adds to the captured curl."""
    src = import_source(motion_npz)["right"]
    tgt, tnames = build_rig("mixamo", src, "right")
    snames = {b.rsplit(".", 1)[0]: b for b in src.data.bones.keys()}
    bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset="mixamo", rest_correction=False)
    worst, _ = compare(src, snames, tgt, tnames, (1, 13))
    assert worst > 10 * TIP_TOL_M


def test_wrist_transfer_orients_the_hand(addon, motion_npz):
    src = import_source(motion_npz)["left"]
    tgt, tnames = build_rig("mixamo", src, "left")
    snames = {b.rsplit(".", 1)[0]: b for b in src.data.bones.keys()}
    bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset="mixamo", transfer_wrist=True)
    worst, _ = compare(src, snames, tgt, tnames, range(1, 25, 4))
    assert worst < TIP_TOL_M
    for f in (1, 7, 13):
        bpy.context.scene.frame_set(f)
        _, Hs, _ = hand_points(src, snames)
        _, Ht, _ = hand_points(tgt, tnames)
        angle = math.degrees(math.acos(np.clip((np.trace(Hs.T @ Ht) - 1) / 2, -1, 1)))
        assert angle < 0.1


def test_custom_bone_map_and_errors(addon, motion_npz, tmp_path):
    src = import_source(motion_npz)["right"]
    # export the Mixamo preset, edit it for a rig whose names use another prefix
    path = tmp_path / "my_map.json"
    assert bpy.ops.handmocap.export_bone_map(filepath=str(path), preset="mixamo") == {"FINISHED"}
    spec = json.loads(path.read_text())
    spec["bones"] = {k: v.replace("mixamorig:", "rig1_") for k, v in spec["bones"].items()}
    path.write_text(json.dumps(spec))
    tgt, tnames = build_rig("mixamo", src, "right", prefix_fix=lambda n: n.replace("mixamorig:", "rig1_"))
    snames = {b.rsplit(".", 1)[0]: b for b in src.data.bones.keys()}
    assert bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset="CUSTOM",
                                      bone_map_path=str(path)) == {"FINISHED"}
    assert compare(src, snames, tgt, tnames, (1, 13))[0] < TIP_TOL_M
    # wrong preset for this rig, a broken map, a non-armature: one-line error reports
    with pytest.raises(RuntimeError, match="has no bone 'mixamorig:RightHand'"):
        bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset="mixamo")
    path.write_text("{ not json")
    with pytest.raises(RuntimeError, match="not valid JSON"):
        bpy.ops.handmocap.retarget(source=src.name, target=tgt.name, preset="CUSTOM", bone_map_path=str(path))
    with pytest.raises(RuntimeError, match="is not an armature"):
        bpy.ops.handmocap.retarget(source=src.name, target="nothing", preset="mixamo")


@pytest.mark.parametrize("preset", ["rigify_metarig", "rigify", "mixamo", "ue5_mannequin", "mpfb"])
def test_presets_name_every_finger_bone(preset):
    """Every preset maps the wrist and all 15 finger joints, with distinct names per side."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from blender_addon.core.retarget import load_bone_map

    right, left = load_bone_map(preset, "right"), load_bone_map(preset, "left")
    assert len(right) == len(left) == 16
    assert len(set(right.values())) == 16 and not set(right.values()) & set(left.values())
    expected = {"mixamo": "mixamorig:RightHandIndex1", "ue5_mannequin": "index_01_r",
                "rigify_metarig": "f_index.01.R", "rigify": "f_index.01.R", "mpfb": "finger2-1.R"}
    assert right["index1"] == expected[preset]
