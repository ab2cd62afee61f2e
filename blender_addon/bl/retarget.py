"""Retarget an imported hand armature onto a character rig and bake an action on the rig.
The math is in ../core/retarget.py; this module samples poses and writes keyframes."""
from __future__ import annotations

import numpy as np

from ..core.hand_model import MANO_JOINT_NAMES
from ..core.retarget import chain_order, hand_frame, load_bone_map, retarget_deltas, \
    world_to_basis, wrist_follow_delta
from ..core.rotations import continuous_quaternions, matrix_to_quaternion
from ..core.skeleton import bone_names
from .anim import assign_new_action, set_keys


def _rot(m) -> np.ndarray:
    """3x3 rotation part (scale removed) of a mathutils matrix."""
    r = np.array([list(row) for row in m.to_3x3()], dtype=np.float64)
    return r / np.linalg.norm(r, axis=0, keepdims=True)


def _vec(v) -> np.ndarray:
    return np.array(list(v), dtype=np.float64)


def source_side(src) -> str:
    side = src.get("handmocap_side")
    if side in ("right", "left"):
        return side
    for s in ("right", "left"):
        if all(n in src.data.bones for n in bone_names(s)):
            return s
    raise ValueError(f"'{src.name}' is not an imported hand armature (no wrist.R / wrist.L bones)")


def retarget(scene, src, tgt, bone_map: str, side: str | None = None, transfer_wrist: bool = False,
             rest_correction: bool = True, action_name: str | None = None, frames=None):
    """Bake `src`'s hand motion onto `tgt`'s mapped bones; returns the new action on `tgt`.

    Args:
        bone_map: preset name (core.retarget.PRESETS) or a bone-map JSON path.
        side: target hand ('right'/'left'); None = the source's side.
        transfer_wrist: also drive the target hand bone (orientation as captured).
        frames: scene frames to bake (default: the source action's range).
    """
    sside = source_side(src)
    side = side or sside
    snames = bone_names(sside)
    mapping = load_bone_map(bone_map, side)
    missing = [b for b in mapping.values() if b not in tgt.data.bones]
    if missing:
        raise ValueError(f"target '{tgt.name}' has no bone '{missing[0]}' (bone map '{bone_map}', {side} hand)")
    mapped = {MANO_JOINT_NAMES.index(j): b for j, b in mapping.items()}
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

    # parents of driven bones that are not driven themselves: sampled, they carry the rig's pose
    driven = {b for j, b in mapped.items() if j != 0 or transfer_wrist}
    hand_name = mapped[0]
    extra = {b.parent.name for j, b in tb.items() if j != 0 and b.parent is not None
             and b.parent.name not in driven} | {hand_name}
    if transfer_wrist and tb[0].parent is not None:
        extra.add(tb[0].parent.name)
    T = len(frames)
    Ws = np.empty((T, 16, 3, 3))
    sampled = {n: np.empty((T, 3, 3)) for n in extra}
    current = scene.frame_current
    for t, f in enumerate(frames):
        scene.frame_set(int(f))
        for j, n in enumerate(snames):
            Ws[t, j] = _rot(src.matrix_world @ src.pose.bones[n].matrix)
        for n in extra:
            sampled[n][t] = _rot(tgt.pose.bones[n].matrix)
    scene.frame_set(current)

    dS = Ws @ np.swapaxes(src_rest, -1, -2)[None]
    hand_rest_w = Ot @ t_rest[0]
    if transfer_wrist:
        dT = wrist_follow_delta(dS[:, 0], Hs, Ht)
    else:
        dT = (Ot[None] @ sampled[hand_name]) @ hand_rest_w.T[None]
    fingers = {j: Ot @ t_rest[j][:, 1] for j in mapped if j != 0}
    D = retarget_deltas(dS, Hs, src_rest[:, :, 1], Ht, fingers, dT, rest_correction)
    posed = {mapped[j]: Ot.T[None] @ D[j] @ (Ot @ t_rest[j])[None] for j in D}
    if transfer_wrist:
        posed[hand_name] = Ot.T[None] @ dT @ hand_rest_w[None]
        # undriven bones between the hand and the fingers (palms, metacarpals) ride on the hand
        ride = posed[hand_name] @ np.swapaxes(sampled[hand_name], -1, -2)
        hand_parent = tb[0].parent.name if tb[0].parent is not None else None
        sampled = {n: (r if n in (hand_name, hand_parent) else ride @ r) for n, r in sampled.items()}

    old = tgt.animation_data.action if tgt.animation_data else None
    action = assign_new_action(tgt, action_name or f"{src.name}_to_{tgt.name}", copy_from=old)
    order = chain_order({j: None for j in mapped if j != 0 or transfer_wrist})
    for j in order:
        bone = tb[j]
        name = bone.name
        parent = bone.parent
        if parent is None:
            L = world_to_basis(posed[name], None, t_rest[j], None)
        else:
            Pp = posed.get(parent.name)
            if Pp is None:
                Pp = sampled[parent.name]
            L = world_to_basis(posed[name], Pp, t_rest[j], _rot(parent.matrix_local))
        q = continuous_quaternions(matrix_to_quaternion(L))
        tgt.pose.bones[name].rotation_mode = "QUATERNION"
        set_keys(action, tgt, f'pose.bones["{name}"].rotation_quaternion', frames, q, name)
    return action
