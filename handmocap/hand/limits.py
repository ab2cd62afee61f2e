"""Anatomical joint angles and joint limits for the 15 finger joints (MANO order).

Every finger joint j has an anatomical frame B_j (3, 3) in the asset's flat rest frame,
columns (flexion axis, abduction axis, twist axis):
- twist: along the bone, pointing distally (joint -> child joint, or -> fingertip);
- flexion: perpendicular to it; a positive rotation curls the bone towards the palm;
- abduction: twist x flexion (the dorsal direction for the four fingers).
The bundled asset stores its frames (`joint_frames`, taken from the MakeHuman rig's bone
rolls at build time); other assets get frames from their geometry (`frames_from_geometry`).

Angles (flexion, abduction, twist) are a Cardan sequence in that frame (flexion first,
then abduction about the moved axis, then twist about the bone):
    R_local = B_j Rx(flexion) Ry(sign_j * abduction) Rz(twist) B_j^T
`sign_j` makes positive abduction spread a finger away from the middle finger (index and
middle: towards the thumb; ring and pinky: away from it; thumb: away from the index).
The ranges, in degrees, are data: `data/joint_limits.json`.

Hand poses here are MANO `hand_pose` (B, 45) axis-angles with flat-hand-mean semantics
(zero = the flat template). For a model built with `flat_hand_mean=False`, add the asset's
`hands_mean` before converting.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from ..errors import AssetError, check_shape
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from .assets import HandAsset, load_hand_asset
from .joints import FINGER_NAMES, MANO_JOINT_NAMES
from .mirror import mirror_axis_angle

ANGLE_NAMES = ("flexion", "abduction", "twist")
FINGER_JOINTS = {"thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6),
                 "ring": (10, 11, 12), "pinky": (7, 8, 9)}
"""MANO joint ids (1..15) of each finger, proximal to distal."""
THUMB_PRONATION_DEG = -48.0
"""Fallback only: the angle (right-handed about the distal-pointing thumb bone) from the
fingers' palm-normal flexion axis to the thumb's, for assets without stored frames. Measured on
the bundled asset: its rig frames give -45..-51 degrees."""


@dataclass(frozen=True)
class JointLimits:
    """Frames and ranges for the 15 finger joints (index i = MANO joint i + 1).

    Attributes:
        frames: (15, 3, 3) columns (flexion, abduction, twist) axes, right-hand rest frame.
        lower: (15, 3) radians, lower limits of (flexion, abduction, twist).
        upper: (15, 3) radians, upper limits.
        abduction_sign: (15,) +1 or -1 (see module docstring).
        side: "right" or "left"; left poses are mirrored to the right frames.
    """

    frames: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    abduction_sign: np.ndarray
    side: str = "right"

    def tensors(self, like: torch.Tensor):
        """frames, lower, upper, sign as tensors with `like`'s dtype and device."""
        return tuple(torch.as_tensor(a, dtype=like.dtype, device=like.device)
                     for a in (self.frames, self.lower, self.upper, self.abduction_sign))


def limits_path():
    return resources.files("handmocap.hand") / "data" / "joint_limits.json"


def read_limit_table() -> dict:
    """The JSON table: {joint name: {"flexion": [lo, hi], ...} degrees, ...}."""
    return json.loads(limits_path().read_text())


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def frames_from_geometry(asset: HandAsset) -> np.ndarray:
    """(15, 3, 3) anatomical frames from a right asset's flat template alone.

    Fingers: flexion = bone x palmar direction (so flexing moves the bone palmar). The
    thumb's flexion axis is that definition turned by `THUMB_PRONATION_DEG` about the thumb
    bone (its nail faces sideways, not dorsally).
    """
    v = asset.v_template
    J = asset.J_regressor @ v
    dorsal = _unit(np.cross(J[1] - J[7], J[0] - J[4]))  # (thumb side) x (towards wrist)
    tips = dict(zip(FINGER_NAMES, asset.fingertip_ids))
    frames = np.zeros((15, 3, 3))
    for finger, chain in FINGER_JOINTS.items():
        for k, j in enumerate(chain):
            twist = _unit((J[chain[k + 1]] if k < 2 else v[tips[finger]]) - J[j])
            palmar = -dorsal + (dorsal @ twist) * twist
            flex = _unit(np.cross(twist, palmar))
            if finger == "thumb":
                a = math.radians(THUMB_PRONATION_DEG)
                # Rodrigues about the twist axis (flex is perpendicular to it)
                flex = math.cos(a) * flex + math.sin(a) * np.cross(twist, flex)
            frames[j - 1] = np.stack([flex, np.cross(twist, flex), twist], axis=1)
    return frames


def build_joint_limits(asset: HandAsset | None = None, table: dict | None = None) -> JointLimits:
    """Joint limits for an asset (default: the bundled open hand) from the JSON table."""
    asset = load_hand_asset("open") if asset is None else asset
    table = read_limit_table() if table is None else table
    side = asset.side
    if side == "left":  # frames are defined on the right hand; poses get mirrored
        from .assets import mirror_asset

        asset = mirror_asset(asset)
    frames = asset.extras.get("joint_frames")
    if frames is None or np.shape(frames) != (15, 3, 3):
        frames = frames_from_geometry(asset)
    lower = np.zeros((15, 3))
    upper = np.zeros((15, 3))
    sign = np.ones(15)
    joints = table.get("joints", {})
    for j, name in enumerate(MANO_JOINT_NAMES[1:]):
        entry = joints.get(name)
        if entry is None:
            raise AssetError(limits_path(), f"no limits for joint '{name}'")
        for k, angle in enumerate(ANGLE_NAMES):
            lo, hi = entry[angle]
            if lo > hi:
                raise AssetError(limits_path(), f"joint '{name}' {angle}: lower {lo} > upper {hi}")
            lower[j, k], upper[j, k] = math.radians(lo), math.radians(hi)
        sign[j] = float(entry.get("abduction_sign", 1))
    return JointLimits(np.asarray(frames, dtype=np.float64), lower, upper, sign, side)


@lru_cache(maxsize=2)
def default_joint_limits(side: str = "right") -> JointLimits:
    """Cached limits of the bundled open hand."""
    return build_joint_limits(load_hand_asset("open", side))


def _limits(limits: JointLimits | None) -> JointLimits:
    return default_joint_limits() if limits is None else limits


# ----------------------------------------------------------------------------- conversions
def _rx(a):
    c, s, o, i = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([i, o, o, o, c, -s, o, s, c], -1).reshape(*a.shape, 3, 3)


def _ry(a):
    c, s, o, i = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([c, o, s, o, i, o, -s, o, c], -1).reshape(*a.shape, 3, 3)


def _rz(a):
    c, s, o, i = torch.cos(a), torch.sin(a), torch.zeros_like(a), torch.ones_like(a)
    return torch.stack([c, -s, o, s, c, o, o, o, i], -1).reshape(*a.shape, 3, 3)


def angles_to_hand_pose(angles: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """Anatomical angles -> MANO hand pose.

    Args:
        angles: (B, 15, 3) radians, (flexion, abduction, twist) per joint, MANO order.
        limits: frames to use (default: the bundled right hand).

    Returns:
        (B, 45) axis-angle hand pose (flat-hand-mean semantics).
    """
    check_shape("angles", angles, (None, 15, 3))
    lim = _limits(limits)
    frames, _, _, sign = lim.tensors(angles)
    local = _rx(angles[..., 0]) @ _ry(angles[..., 1] * sign) @ _rz(angles[..., 2])
    R = frames @ local @ frames.transpose(-1, -2)
    pose = matrix_to_axis_angle(R).reshape(angles.shape[0], 45)
    return mirror_axis_angle(pose) if lim.side == "left" else pose


def hand_pose_to_angles(hand_pose: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """MANO hand pose -> anatomical angles (inverse of `angles_to_hand_pose`).

    Args:
        hand_pose: (B, 45) axis-angle, flat-hand-mean semantics.

    Returns:
        (B, 15, 3) radians (flexion, abduction, twist); flexion and twist in (-pi, pi],
        abduction in [-pi/2, pi/2].
    """
    check_shape("hand_pose", hand_pose, (None, 45))
    lim = _limits(limits)
    if lim.side == "left":
        hand_pose = mirror_axis_angle(hand_pose)
    frames, _, _, sign = lim.tensors(hand_pose)
    R = axis_angle_to_matrix(hand_pose.reshape(-1, 15, 3))
    E = frames.transpose(-1, -2) @ R @ frames
    flex = torch.atan2(-E[..., 1, 2], E[..., 2, 2])
    # the small epsilon keeps the gradient finite at the (never reached) gimbal lock
    abd = torch.atan2(E[..., 0, 2], torch.sqrt(E[..., 1, 2] ** 2 + E[..., 2, 2] ** 2 + 1e-12))
    twist = torch.atan2(-E[..., 0, 1], E[..., 0, 0])
    return torch.stack([flex, abd * sign, twist], -1)


# ----------------------------------------------------------------------------- limits
def limit_violation(angles: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """(B, 15, 3) radians outside the range (0 inside; positive either side)."""
    _, lower, upper, _ = _limits(limits).tensors(angles)
    return torch.relu(lower - angles) + torch.relu(angles - upper)


def limit_penalty(hand_pose: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """Smooth joint-limit penalty for fitting: sum of squared violations.

    Args:
        hand_pose: (B, 45) axis-angle, flat-hand-mean semantics.

    Returns:
        (B,) radians^2; exactly 0 inside the limits, differentiable (C1) everywhere.
    """
    v = limit_violation(hand_pose_to_angles(hand_pose, limits), limits)
    return (v ** 2).sum((1, 2))


def clamp_angles(angles: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """(B, 15, 3) radians clamped into the ranges."""
    _, lower, upper, _ = _limits(limits).tensors(angles)
    return torch.maximum(torch.minimum(angles, upper), lower)


def clamp_to_limits(hand_pose: torch.Tensor, limits: JointLimits | None = None) -> torch.Tensor:
    """(B, 45) hand pose -> (B, 45) nearest pose (per angle) inside the limits."""
    return angles_to_hand_pose(clamp_angles(hand_pose_to_angles(hand_pose, limits), limits), limits)


def within_limits(hand_pose: torch.Tensor, limits: JointLimits | None = None,
                  tol_deg: float = 1e-3) -> torch.Tensor:
    """(B,) bool: every angle within its range up to `tol_deg` degrees."""
    v = limit_violation(hand_pose_to_angles(hand_pose, limits), limits)
    return (v <= math.radians(tol_deg)).flatten(1).all(1)

