"""Bones of the imported hand and the conversion of MANO poses into bone rotations.

Bones (one per MANO joint, named `wrist.R`, `index1.R` ... `thumb3.R`; `.L` for left):
head at the joint, tail at the child joint (the fingertip for distal joints, the middle
finger's MCP for the wrist). Roll convention, the same for every bone of both hands:
local +Y runs along the bone, local +Z points out of the palm side (palmar), so local +X is
the flexion axis and a positive rotation about X curls the finger towards the palm.

Pose conversion (rest-pose correction): MANO's local rotation R_j acts about joint j in
the model/camera axes. With the bone's rest rotation B_j (armature space, columns X, Y, Z),
the pose-bone rotation is L_j = B_j^T R_j B_j, and the root bone's location is
B_0^T transl: then Blender's posed bone heads equal the MANO joints exactly.
Letters: T frames, 16 joints.
"""
from __future__ import annotations

import numpy as np

from .hand_model import DISTAL_JOINT, FINGER_NAMES, MANO_JOINT_NAMES, MANO_PARENTS
from .rotations import axis_angle_to_matrix, continuous_quaternions, frame_from_yz, matrix_to_quaternion

SIDE_SUFFIX = {"right": ".R", "left": ".L"}
TIP_OF_JOINT = {DISTAL_JOINT[f]: i for i, f in enumerate(FINGER_NAMES)}
CHILD = {p: j for j, p in enumerate(MANO_PARENTS) if p >= 0 and p != 0}


def bone_names(side: str) -> list[str]:
    """16 bone names in MANO joint order, e.g. 'index1.R'."""
    return [n + SIDE_SUFFIX[side] for n in MANO_JOINT_NAMES]


def palm_normal(joints: np.ndarray, side: str) -> np.ndarray:
    """Unit normal pointing out of the palm (palmar side), (3,), from joints (16, 3)."""
    n = np.cross(joints[1] - joints[0], joints[7] - joints[0])  # index MCP x pinky MCP
    n = n if side == "right" else -n
    return n / np.linalg.norm(n)


def bone_rest(joints: np.ndarray, tips: np.ndarray, side: str):
    """Rest bones in the model frame.

    Args:
        joints: (16, 3) shaped rest joints, metres; tips: (5, 3) fingertips (FINGER_NAMES order).
    Returns:
        heads (16, 3), tails (16, 3), rest_rot (16, 3, 3) with columns the bone X, Y, Z axes.
    """
    heads = np.asarray(joints, dtype=np.float64)
    tails = np.empty_like(heads)
    for j in range(16):
        if j == 0:
            tails[j] = heads[4]  # wrist -> middle MCP
        elif j in TIP_OF_JOINT:
            tails[j] = tips[TIP_OF_JOINT[j]]
        else:
            tails[j] = heads[CHILD[j]]
    n = palm_normal(heads, side)
    rest_rot = np.stack([frame_from_yz(tails[j] - heads[j], n) for j in range(16)])
    return heads, tails, rest_rot


def pose_to_bone_basis(global_orient: np.ndarray, hand_pose: np.ndarray, transl: np.ndarray,
                       rest_rot: np.ndarray):
    """MANO parameters -> pose-bone channels (rest-pose corrected).

    Args:
        global_orient: (T, 3), hand_pose: (T, 45) axis-angles; transl: (T, 3) metres,
            all in the armature's frame (the camera frame for imported tracks).
        rest_rot: (16, 3, 3) bones' rest rotations in that frame (Blender's bone.matrix_local).
    Returns:
        quats (T, 16, 4) (w, x, y, z) pose-bone rotations, continuous in time;
        root_location (T, 3) the wrist bone's location channel.
    """
    T = len(global_orient)
    aa = np.concatenate([np.asarray(global_orient, float).reshape(T, 1, 3),
                         np.asarray(hand_pose, float).reshape(T, 15, 3)], 1)
    R = axis_angle_to_matrix(aa)  # (T, 16, 3, 3)
    Bt = np.swapaxes(rest_rot, -1, -2)
    L = Bt[None] @ R @ rest_rot[None]
    loc = np.einsum("ij,tj->ti", Bt[0], np.asarray(transl, float))
    return continuous_quaternions(matrix_to_quaternion(L)), loc


def forward_kinematics(global_orient, hand_pose, transl, joints_rest):
    """MANO joints (T, 16, 3) and global rotations (T, 16, 3, 3) for checking (numpy LBS FK)."""
    T = len(global_orient)
    aa = np.concatenate([np.asarray(global_orient, float).reshape(T, 1, 3),
                         np.asarray(hand_pose, float).reshape(T, 15, 3)], 1)
    R = axis_angle_to_matrix(aa)
    G = np.empty_like(R)
    P = np.empty((T, 16, 3))
    G[:, 0] = R[:, 0]
    P[:, 0] = joints_rest[0] + np.asarray(transl, float)
    for j in range(1, 16):
        p = MANO_PARENTS[j]
        G[:, j] = G[:, p] @ R[:, j]
        P[:, j] = P[:, p] + G[:, p] @ (joints_rest[j] - joints_rest[p])
    return P, G
