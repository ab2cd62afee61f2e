"""Linear blend skinning for MANO-layout hand models, as pure functions.

Every model array is an argument, so the same code runs the bundled open hand, a user's
MANO files and mirrored left assets. Letters: B batch, V vertices, J=16 joints, S betas.
"""
from __future__ import annotations

import torch

from .rotations import axis_angle_to_matrix


def blend_shapes(betas: torch.Tensor, v_template: torch.Tensor, shapedirs: torch.Tensor) -> torch.Tensor:
    """Shaped rest vertices. betas: (B, S); v_template: (V, 3); shapedirs: (V, 3, S) -> (B, V, 3) m."""
    s = shapedirs.shape[-1]
    return v_template + torch.einsum("bs,vcs->bvc", betas[:, :s], shapedirs)


def forward_kinematics(rot_mats: torch.Tensor, joints_rest: torch.Tensor, parents: tuple[int, ...]):
    """Chain local rotations down the kinematic tree.

    Args:
        rot_mats: (B, J, 3, 3) local rotations, each in its parent's rest frame (root global).
        joints_rest: (B, J, 3) rest joint positions, metres.
        parents: J parent indices, parents[0] = -1, every parent before its child.

    Returns:
        joints_posed: (B, J, 3) posed joint positions.
        transforms: (B, J, 3, 4) skinning transforms [R | t] mapping rest points to posed ones.
    """
    rel = joints_rest.clone()
    rel[:, 1:] = joints_rest[:, 1:] - joints_rest[:, list(parents[1:])]
    rots = [rot_mats[:, 0]]
    locs = [rel[:, 0]]
    for j in range(1, len(parents)):
        p = parents[j]
        rots.append(rots[p] @ rot_mats[:, j])
        locs.append(locs[p] + (rots[p] @ rel[:, j, :, None])[..., 0])
    R = torch.stack(rots, 1)
    posed = torch.stack(locs, 1)
    t = posed - (R @ joints_rest[..., None])[..., 0]
    return posed, torch.cat([R, t[..., None]], -1)


def lbs(
    betas: torch.Tensor,
    full_pose: torch.Tensor,
    v_template: torch.Tensor,
    shapedirs: torch.Tensor,
    posedirs: torch.Tensor | None,
    J_regressor: torch.Tensor,
    parents: tuple[int, ...],
    weights: torch.Tensor,
):
    """Shape, pose-correct and skin a hand.

    Args:
        betas: (B, S) shape coefficients.
        full_pose: (B, J, 3) axis-angle per joint (root = global orientation).
        v_template: (V, 3); shapedirs: (V, 3, S); posedirs: (P, V*3) with P = 9*(J-1), or None
            when the asset has no pose correctives; J_regressor: (J, V); weights: (V, J).

    Returns:
        vertices: (B, V, 3), joints: (B, J, 3), metres, in the model frame (root at its
        rest position: MANO semantics, no translation).
    """
    v_shaped = blend_shapes(betas, v_template, shapedirs)
    joints_rest = torch.einsum("jv,bvc->bjc", J_regressor, v_shaped)
    rot = axis_angle_to_matrix(full_pose)
    if posedirs is not None:
        eye = torch.eye(3, dtype=rot.dtype, device=rot.device)
        pose_feature = (rot[:, 1:] - eye).flatten(1)
        v_shaped = v_shaped + (pose_feature @ posedirs).reshape(v_shaped.shape)
    joints, T = forward_kinematics(rot, joints_rest, parents)
    A = torch.einsum("vj,bjxy->bvxy", weights, T)  # (B, V, 3, 4)
    verts = (A[..., :3] @ v_shaped[..., None])[..., 0] + A[..., 3]
    return verts, joints
