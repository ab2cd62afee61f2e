"""Retarget an imported hand armature onto a character rig and bake an action on the rig.

The math is in ../core/retarget.py. Real rigs put helper bones between the mapped ones
(Rigify's MCH-*_drv bones, driven and constrained), so a bone's pose channel cannot be
computed from rest matrices: the bake walks frame by frame, sets the driven bones level by
level (parents first) and lets Blender evaluate the rig between levels, so each bone's
channel is computed from its parent's evaluated pose, whatever sits between them.
"""
from __future__ import annotations

import math

import numpy as np

from ..core.hand_model import MANO_JOINT_NAMES
from ..core.retarget import BoneMapError, dependency_levels, hand_frame, load_bone_spec, \
    retarget_deltas, world_to_basis, wrist_follow_delta
from ..core.rotations import axis_angle_to_matrix, continuous_quaternions, matrix_to_quaternion
from ..core.skeleton import bone_names
from .anim import assign_new_action, set_keys

CONTROL_TEST_ANGLE = 0.3  # rad turned on a candidate hand control to see if it moves the hand


def _rot(m) -> np.ndarray:
    """3x3 rotation part (scale removed) of a mathutils matrix."""
    r = np.array([list(row) for row in m.to_3x3()], dtype=np.float64)
    return r / np.linalg.norm(r, axis=0, keepdims=True)


def _vec(v) -> np.ndarray:
    return np.array(list(v), dtype=np.float64)


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return math.degrees(math.acos(np.clip((np.trace(a.T @ b) - 1) / 2, -1, 1)))


def source_side(src) -> str:
    side = src.get("handmocap_side")
    if side in ("right", "left"):
        return side
    for s in ("right", "left"):
        if all(n in src.data.bones for n in bone_names(s)):
            return s
    raise ValueError(f"'{src.name}' is not an imported hand armature (no wrist.R / wrist.L bones)")


def missing_bones(tgt, bone_map: str, side: str) -> list[str]:
    """Mapped bones (and the map's hand_result) the target armature lacks."""
    spec = load_bone_spec(bone_map, side)
    wanted = list(spec.bones.values()) + ([spec.hand_result] if spec.hand_result else [])
    return [b for b in wanted if b not in tgt.data.bones]


def _evaluate(view_layer) -> None:
    view_layer.update()


def _set_basis_rotation(pb, L: np.ndarray) -> np.ndarray:
    """Set a pose bone's rotation channel to the 3x3 rotation L; returns its quaternion."""
    q = matrix_to_quaternion(L)
    pb.rotation_mode = "QUATERNION"
    pb.rotation_quaternion = tuple(q)
    return q


def _basis_for(tgt, name: str, arm_rot: np.ndarray) -> np.ndarray:
    """Rotation channel that gives bone `name` the armature-space rotation `arm_rot`, from
    its parent's evaluated pose."""
    bone = tgt.data.bones[name]
    parent = bone.parent
    if parent is None:
        return world_to_basis(arm_rot[None], None, _rot(bone.matrix_local), None)[0]
    return world_to_basis(arm_rot[None], _rot(tgt.pose.bones[parent.name].matrix)[None],
                          _rot(bone.matrix_local), _rot(parent.matrix_local))[0]


def hand_control(tgt, wrist: str, result: str, candidates, view_layer) -> str:
    """The bone that turns the visible hand: the mapped wrist bone, or the first of the
    map's wrist_controls (an IK hand control) that does. Tried by turning each candidate a
    little, evaluating the rig, and putting it back."""
    if result == wrist:
        return wrist
    tried = []
    for name in (wrist, *candidates):
        if name not in tgt.pose.bones:
            continue
        pb = tgt.pose.bones[name]
        before = _rot(tgt.pose.bones[result].matrix)
        mode, quat, euler = pb.rotation_mode, tuple(pb.rotation_quaternion), tuple(pb.rotation_euler)
        L = _rot(pb.matrix_basis) @ axis_angle_to_matrix(np.array([CONTROL_TEST_ANGLE, 0.0, 0.0]))
        _set_basis_rotation(pb, L)
        _evaluate(view_layer)
        moved = _angle(before, _rot(tgt.pose.bones[result].matrix))
        pb.rotation_mode = mode
        pb.rotation_quaternion, pb.rotation_euler = quat, euler
        _evaluate(view_layer)
        if moved > 0.5 * math.degrees(CONTROL_TEST_ANGLE):
            return name
        tried.append(name)
    raise BoneMapError(tgt.name, f"none of {', '.join(tried) or wrist} turns the hand '{result}' "
                                 f"(check the rig's IK/FK switch)")


def retarget(scene, src, tgt, bone_map: str, side: str | None = None, transfer_wrist: bool = False,
             rest_correction: bool = True, action_name: str | None = None, frames=None, view_layer=None):
    """Bake `src`'s hand motion onto `tgt`'s mapped bones; returns the new action on `tgt`.

    Args:
        bone_map: preset name (core.retarget.PRESETS) or a bone-map JSON path.
        side: target hand ('right'/'left'); None = the source's side.
        transfer_wrist: also turn the target hand as captured (through whichever control
            moves it: the FK hand bone, or the IK hand control in IK arm mode).
        frames: scene frames to bake (default: the source action's range).
    """
    import bpy

    view_layer = view_layer or bpy.context.view_layer
    sside = source_side(src)
    side = side or sside
    snames = bone_names(sside)
    spec = load_bone_spec(bone_map, side)
    missing = missing_bones(tgt, bone_map, side)
    if missing:
        raise ValueError(f"target '{tgt.name}' has no bone '{missing[0]}' (bone map '{bone_map}', {side} hand; "
                         f"{len(missing)} missing)")
    mapped = {MANO_JOINT_NAMES.index(j): b for j, b in spec.bones.items()}
    if frames is None:
        act = src.animation_data.action if src.animation_data else None
        if act is None:
            raise ValueError(f"source '{src.name}' has no action to retarget")
        f0, f1 = act.frame_range
        frames = np.arange(int(round(f0)), int(round(f1)) + 1)
    frames = np.asarray(frames)

    Os, Ot = _rot(src.matrix_world), _rot(tgt.matrix_world)
    src_rest = np.stack([Os @ _rot(src.data.bones[n].matrix_local) for n in snames])
    src_heads = np.stack([_vec(src.matrix_world @ src.data.bones[n].head_local) for n in snames])
    tb = {j: tgt.data.bones[b] for j, b in mapped.items()}
    t_rest = {j: _rot(b.matrix_local) for j, b in tb.items()}  # armature space
    t_heads = {j: _vec(tgt.matrix_world @ b.head_local) for j, b in tb.items()}
    Hs = hand_frame(src_heads[0], src_heads[1], src_heads[4], src_heads[7], sside)
    Ht = hand_frame(t_heads[0], t_heads[1], t_heads[4], t_heads[7], side)
    result = spec.hand_result or mapped[0]
    result_rest = _rot(tgt.data.bones[result].matrix_local)
    fingers = {j: Ot @ t_rest[j][:, 1] for j in mapped if j != 0}

    current = scene.frame_current
    scene.frame_set(int(frames[0]))
    control = hand_control(tgt, mapped[0], result, spec.wrist_controls, view_layer) if transfer_wrist else None
    parent_of = {b.name: (b.parent.name if b.parent else None) for b in tgt.data.bones}
    levels = dependency_levels([mapped[j] for j in fingers], parent_of)
    joint_of = {b: j for j, b in mapped.items()}
    keys = {mapped[j]: np.empty((len(frames), 4)) for j in fingers}
    if control:
        keys[control] = np.empty((len(frames), 4))
    wm = bpy.context.window_manager
    wm.progress_begin(0, len(frames))
    try:
        for t, f in enumerate(frames):
            wm.progress_update(t)
            scene.frame_set(int(f))
            Ws = np.stack([_rot(src.matrix_world @ src.pose.bones[n].matrix) for n in snames])
            dS = (Ws @ np.swapaxes(src_rest, -1, -2))[None]
            if control:
                dT = wrist_follow_delta(dS[:, 0], Hs, Ht)[0]
                want = Ot.T @ dT @ Ot @ result_rest  # the visible hand, armature space
                # the control carries the visible hand rigidly: keep their current offset
                offset = _rot(tgt.pose.bones[result].matrix).T @ _rot(tgt.pose.bones[control].matrix)
                keys[control][t] = _set_basis_rotation(tgt.pose.bones[control], _basis_for(tgt, control, want @ offset))
                _evaluate(view_layer)
            hand_now = Ot @ _rot(tgt.pose.bones[result].matrix)
            dT = hand_now @ (Ot @ result_rest).T
            D = retarget_deltas(dS, Hs, src_rest[:, :, 1], Ht, fingers, dT[None], rest_correction)
            for k, level in enumerate(levels):
                if k:
                    _evaluate(view_layer)
                for name in level:
                    j = joint_of[name]
                    arm_rot = Ot.T @ D[j][0] @ Ot @ t_rest[j]
                    keys[name][t] = _set_basis_rotation(tgt.pose.bones[name], _basis_for(tgt, name, arm_rot))
    finally:
        wm.progress_end()
        scene.frame_set(current)
    # the new action goes on after baking (the rig's own animation played meanwhile); assigning
    # it also makes Blender rebuild the rig's animation relations
    old = tgt.animation_data.action if tgt.animation_data else None
    action = assign_new_action(tgt, action_name or f"{src.name}_to_{tgt.name}", copy_from=old)
    for name, q in keys.items():
        set_keys(action, tgt, f'pose.bones["{name}"].rotation_quaternion', frames,
                 continuous_quaternions(q), name)
    scene.frame_set(current)
    return action
