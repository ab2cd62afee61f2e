"""`HandModel`: the differentiable, batched hand-model layer (torch).

    model = HandModel()                               # bundled open hand, right
    out = model(global_orient=(B, 3), hand_pose=(B, 45), betas=(B, 10), transl=(B, 3))
    out.vertices (B, V, 3), out.joints (B, 16, 3), out.keypoints (B, 21, 3)  metres

Semantics follow MANO: hand_pose is 15 local axis-angle rotations (MANO joint order)
added to the asset's `hands_mean` unless `flat_hand_mean=True`; with `use_pca=True`,
hand_pose holds PCA coefficients (assets with a real PCA basis only).
"""
from __future__ import annotations

import functools

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import ShapeError, check_shape
from ..geometry.lbs import lbs
from .assets import HandAsset, load_hand_asset
from .joints import MANO_TO_KEYPOINTS


@dataclass
class HandOutput:
    """Result of a forward pass; all (B, ., 3) in metres, in the camera/model frame."""

    vertices: torch.Tensor
    joints: torch.Tensor
    keypoints: torch.Tensor
    full_pose: torch.Tensor  # (B, 16, 3) axis-angle actually applied (hands_mean included)


class HandModel(torch.nn.Module):
    """MANO-layout linear-blend-skinned hand. Buffers follow `.to(device, dtype)`.

    Args:
        asset: a `HandAsset`, or a source for `load_hand_asset` (None = default model).
        side: "right" or "left" when `asset` is a source.
        flat_hand_mean: if True, zero pose is the flat template; if False (MANO's default
            in smplx) zero pose is the asset's mean (relaxed) hand.
        dtype: floating dtype of the buffers.
    """

    def __init__(self, asset: HandAsset | str | None = None, side: str = "right",
                 flat_hand_mean: bool = True, dtype: torch.dtype = torch.float32):
        super().__init__()
        if not isinstance(asset, HandAsset):
            asset = load_hand_asset(asset, side)
        self.asset = asset
        self.side = asset.side
        self.flat_hand_mean = flat_hand_mean
        self.parents = asset.parents

        def buf(name, arr):  # a copy: assets are cached and shared
            self.register_buffer(name, torch.tensor(np.asarray(arr), dtype=dtype), persistent=False)

        buf("v_template", asset.v_template)
        buf("shapedirs", asset.shapedirs)
        buf("J_regressor", asset.J_regressor)
        buf("lbs_weights", asset.weights)
        buf("hands_mean", np.zeros(45) if flat_hand_mean else asset.hands_mean)
        buf("hands_components", asset.hands_components)
        self.posedirs: torch.Tensor | None
        if asset.posedirs is not None:
            buf("posedirs", asset.posedirs)
        else:
            self.posedirs = None
        self.register_buffer("faces", torch.as_tensor(asset.faces, dtype=torch.long), persistent=False)
        self.register_buffer("fingertip_ids", torch.as_tensor(asset.fingertip_ids, dtype=torch.long),
                             persistent=False)
        self.register_buffer("_kp_index", torch.as_tensor(MANO_TO_KEYPOINTS, dtype=torch.long),
                             persistent=False)

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[-1]

    @property
    def model_id(self) -> str:
        return self.asset.model_id

    def forward(self, global_orient: torch.Tensor | None = None, hand_pose: torch.Tensor | None = None,
                betas: torch.Tensor | None = None, transl: torch.Tensor | None = None,
                use_pca: bool = False) -> HandOutput:
        """Pose and shape the hand.

        Args:
            global_orient: (B, 3) axis-angle of the wrist in the output frame.
            hand_pose: (B, 45) local axis-angles of the 15 finger joints (MANO order), or
                (B, C) PCA coefficients with `use_pca=True`.
            betas: (B, S') shape, S' <= asset's S (missing ones are zero).
            transl: (B, 3) metres, added to every output point.

        Returns:
            HandOutput with vertices (B, V, 3), joints (B, 16, 3), keypoints (B, 21, 3)
            in MediaPipe order (16 joints + 5 fingertip vertices).
        """
        ref = self.v_template
        # numpy arrays and other float dtypes are accepted and cast to the layer's dtype
        global_orient, hand_pose, betas, transl = (
            None if t is None else torch.as_tensor(t).to(device=ref.device, dtype=ref.dtype)
            for t in (global_orient, hand_pose, betas, transl))
        given = [t for t in (global_orient, hand_pose, betas, transl) if t is not None]
        B = given[0].shape[0] if given else 1

        def zeros(n):
            return ref.new_zeros(B, n)

        global_orient = zeros(3) if global_orient is None else global_orient
        hand_pose = zeros(45) if hand_pose is None else hand_pose
        betas = zeros(self.num_betas) if betas is None else betas
        check_shape("global_orient", global_orient, (B, 3))
        check_shape("betas", betas, (B, None))
        if betas.shape[1] > self.num_betas:
            raise ShapeError("betas", f"(B, <= {self.num_betas})", tuple(betas.shape))
        if use_pca:
            n = hand_pose.shape[-1]
            if n > self.hands_components.shape[0]:
                raise ShapeError("hand_pose", f"(B, <= {self.hands_components.shape[0]}) PCA", tuple(hand_pose.shape))
            hand_pose = hand_pose @ self.hands_components[:n]
        check_shape("hand_pose", hand_pose, (B, 45))
        if transl is not None:
            check_shape("transl", transl, (B, 3))
        full_pose = torch.cat([global_orient, hand_pose + self.hands_mean], 1).reshape(B, 16, 3)
        verts, joints = lbs(betas, full_pose, self.v_template, self.shapedirs, self.posedirs,
                            self.J_regressor, self.parents, self.lbs_weights)
        if transl is not None:
            verts = verts + transl[:, None]
            joints = joints + transl[:, None]
        keypoints = torch.cat([joints, verts[:, self.fingertip_ids]], 1)[:, self._kp_index]
        return HandOutput(vertices=verts, joints=joints, keypoints=keypoints, full_pose=full_pose)


@functools.lru_cache(maxsize=8)
def cached_hand_model(asset: str | None = None, side: str = "right") -> HandModel:
    """One float32 `HandModel` per (asset path or None, side) and process, for read-only use
    by many small jobs (photos), where building the layer's buffers would cost more than
    posing one hand. Do not modify the returned module."""
    return HandModel(asset, side=side)
