"""Building blocks shared by the learned models: residual MLPs, the hand-parameter head
(6D rotations, shape, weights, weak perspective) and HandDGP's weights decoder.

Letters: B batch, J=21 keypoints, C channels, H x W feature map.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..geometry.rotations import rot6d_to_matrix

NUM_POSE_JOINTS = 15
NUM_BETAS = 10
NUM_KEYPOINTS = 21



def identity_rot6d(dtype=torch.float32, device=None) -> torch.Tensor:
    """(6,) the 6D representation of the identity rotation."""
    from ..geometry.rotations import matrix_to_rot6d

    return matrix_to_rot6d(torch.eye(3, dtype=dtype, device=device)[None])[0]


class ResidualMLPBlock(nn.Module):
    """x + W2 gelu(W1 layernorm(x)): a pre-norm residual block (width C -> C)."""

    def __init__(self, width: int, hidden: int | None = None, dropout: float = 0.0):
        super().__init__()
        hidden = hidden or 2 * width
        self.norm = nn.LayerNorm(width)
        self.fc1 = nn.Linear(width, hidden)
        self.fc2 = nn.Linear(hidden, width)
        self.drop = nn.Dropout(dropout)
        nn.init.zeros_(self.fc2.weight)  # each block starts as the identity: stable deep training
        nn.init.zeros_(self.fc2.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.drop(F.gelu(self.fc1(self.norm(x)))))


class HandParamHead(nn.Module):
    """Features (B, C) -> hand parameters and camera quantities (Boukhayma's encoder output
    plus HandDGP's per-keypoint weights).

    Outputs (dict):
        rotations: (B, 16, 3, 3) global orientation (index 0, in the frame the features
            describe) and 15 local joint rotations (MANO order), from 6D (Zhou et al.).
        betas: (B, 10) shape.
        weight_logits: (B, 21) DGP weights before the sigmoid.
        weak: (B, 3) weak-perspective (log-scale correction, offset x, y) in normalised units.
        root: (B, 3) root-regression (log-depth correction, offset x, y).
    """

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width)
        self.rot = nn.Linear(width, 16 * 6)
        self.betas = nn.Linear(width, NUM_BETAS)
        self.weights = nn.Linear(width, NUM_KEYPOINTS)
        self.weak = nn.Linear(width, 3)
        self.root = nn.Linear(width, 3)
        for lin in (self.rot, self.betas, self.weak, self.root):
            nn.init.normal_(lin.weight, std=1e-3)
            nn.init.zeros_(lin.bias)
        nn.init.zeros_(self.weights.weight)
        nn.init.constant_(self.weights.bias, 2.0)  # start near-uniform, high weights (sigmoid 0.88)
        self.register_buffer("rot_bias", identity_rot6d().repeat(16), persistent=False)

    def forward(self, feat: torch.Tensor) -> dict:
        h = self.norm(feat)
        B = h.shape[0]
        r6 = (self.rot(h) + self.rot_bias).reshape(B, 16, 6)
        return {"rotations": rot6d_to_matrix(r6), "betas": self.betas(h), "weight_logits": self.weights(h),
                "weak": self.weak(h), "root": self.root(h)}


class WeightsDecoder(nn.Module):
    """HandDGP's weights decoder: 1x1 convolutions on a feature map, bilinear sampling at the
    2D keypoints (grid_sample), a small MLP per keypoint, a sigmoid.

    forward(features (B, C, H, W), keypoints_uv (B, J, 2) in [-1, 1] grid units) -> (B, J)
    weights in (0, 1).
    """

    def __init__(self, channels: int, hidden: int = 128):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, hidden, 1))
        self.mlp = nn.Sequential(nn.Linear(hidden + NUM_KEYPOINTS, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, features: torch.Tensor, keypoints_uv: torch.Tensor) -> torch.Tensor:
        f = self.conv(features)
        s = F.grid_sample(f, keypoints_uv[:, :, None, :], mode="bilinear", align_corners=False)  # (B, C, J, 1)
        s = s[..., 0].transpose(1, 2)  # (B, J, C)
        ident = torch.eye(NUM_KEYPOINTS, dtype=s.dtype, device=s.device).expand(s.shape[0], -1, -1)
        return torch.sigmoid(self.mlp(torch.cat([s, ident], -1))[..., 0])


__all__ = ["HandParamHead", "ResidualMLPBlock", "WeightsDecoder", "identity_rot6d"]
