"""The image model: Boukhayma et al.'s RGB / RGB+2D variants with HandDGP's heads.

    rectified crop (B, 3 [+21 heat-maps], S, S), virtual camera K_v
      -> ResNet-50 trunk (B, C, S/32, S/32)
      -> 2D keypoint decoder: 1x1 conv, x4 upsampling, 3x3 conv, 21 heat-maps, soft-argmax
         -> keypoints_px (B, 21, 2) crop pixels
      -> hand-parameter decoder: global pooling, MLP, `HandParamHead` (6D rotations, betas)
         -> hand model keypoints (root-rotated, virtual camera)
      -> weights decoder (HandDGP): 1x1 convs, grid-sample at the 2D keypoints, MLP, sigmoid
      -> DGP: translation from the decoded 2D keypoints, the 3D keypoints and the weights
         (trained end to end); camera-space keypoints = keypoints + transl (virtual camera,
         map back with `camera.rectify`).

The image model predicts the hand model's own keypoints (no detector definition).
Letters: B batch, S crop size, J=21.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..solve.dgp import solve_translation
from .heads import HandParamHead, WeightsDecoder
from .keypoint_model import KeypointDecoder
from .resnet import ResNet


@dataclass(frozen=True)
class ImageModelConfig:
    """layers/width: ResNet trunk ((3, 4, 6, 3), 64 = ResNet-50).  crop: input size S.
    heatmaps: stack 21 2D keypoint heat-maps onto the RGB input (Boukhayma's RGB+2D)."""

    layers: tuple = (3, 4, 6, 3)
    width: int = 64
    crop: int = 224
    heatmaps: bool = False

    def to_dict(self) -> dict:
        d = asdict(self)
        d["layers"] = list(self.layers)
        return d


def soft_argmax(heatmaps: torch.Tensor) -> torch.Tensor:
    """(B, J, h, w) logits -> (B, J, 2) expected (x, y) in heat-map pixel centres."""
    B, J, h, w = heatmaps.shape
    p = torch.softmax(heatmaps.flatten(2), -1).reshape(B, J, h, w)
    xs = torch.arange(w, dtype=p.dtype, device=p.device)
    ys = torch.arange(h, dtype=p.dtype, device=p.device)
    return torch.stack([(p.sum(2) * xs).sum(-1), (p.sum(3) * ys).sum(-1)], -1)


def keypoint_heatmaps(keypoints_px: torch.Tensor, size: int, sigma: float = 4.0) -> torch.Tensor:
    """Gaussian heat-maps (B, J, S, S) of keypoints (B, J, 2) crop pixels (the RGB+2D input)."""
    g = torch.arange(size, dtype=keypoints_px.dtype, device=keypoints_px.device)
    dx = (g[None, None, None, :] - keypoints_px[..., 0, None, None]) ** 2
    dy = (g[None, None, :, None] - keypoints_px[..., 1, None, None]) ** 2
    return torch.exp(-(dx + dy) / (2 * sigma ** 2))


def skin_vertices(hand_model, rotations: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
    """Mesh vertices (B, V, 3) metres from rotation matrices (B, 16, 3, 3) (root + local, hands
    mean included) and betas (B, S): `HandModel` without the axis-angle round trip, whose
    gradient is undefined at the identity (where a network's 6D head starts)."""
    from ..geometry.lbs import blend_shapes, forward_kinematics

    m = hand_model
    v = blend_shapes(betas, m.v_template, m.shapedirs)
    joints_rest = torch.einsum("jv,bvc->bjc", m.J_regressor, v)
    if m.posedirs is not None:
        eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
        v = v + ((rotations[:, 1:] - eye).flatten(1) @ m.posedirs).reshape(v.shape)
    _, T = forward_kinematics(rotations, joints_rest, m.parents)
    A = torch.einsum("vj,bjxy->bvxy", m.lbs_weights, T)
    return (A[..., :3] @ v[..., None])[..., 0] + A[..., 3]


class ImageModel(nn.Module):
    """forward(images (B, C, S, S), K_virtual (B, 3, 3)) -> dict (module docstring)."""

    def __init__(self, hand_model, config: ImageModelConfig = ImageModelConfig()):
        super().__init__()
        self.config = config
        cin = 3 + (21 if config.heatmaps else 0)
        self.encoder = ResNet(tuple(config.layers), config.width, cin)
        C = self.encoder.out_channels
        self.kp_decoder = nn.Sequential(nn.Conv2d(C, 256, 1), nn.ReLU(inplace=True), nn.Upsample(scale_factor=4,
                                        mode="bilinear", align_corners=False), nn.Conv2d(256, 21, 3, padding=1))
        self.param_mlp = nn.Sequential(nn.Linear(C, 512), nn.ReLU(inplace=True))
        self.head = HandParamHead(512)
        self.weights = WeightsDecoder(C)
        self.decoder = KeypointDecoder(hand_model)

    def forward(self, images: torch.Tensor, K_virtual: torch.Tensor) -> dict:
        S = images.shape[-1]
        feat = self.encoder(images)
        hm = self.kp_decoder(feat)
        scale = S / hm.shape[-1]
        uv_px = (soft_argmax(hm) + 0.5) * scale - 0.5  # heat-map pixel centres -> crop pixel centres
        grid = (uv_px + 0.5) / S * 2 - 1
        weights = self.weights(feat, grid)
        out = self.head(self.param_mlp(feat.mean((-1, -2))))
        kp = self.decoder(out["rotations"], out["betas"])
        res = solve_translation(uv_px, kp, weights + 1e-6, K_virtual)
        return {"keypoints_px": uv_px, "heatmaps": hm, "weights": weights, "rotations": out["rotations"],
                "betas": out["betas"], "keypoints_v": kp, "transl_v": res.transl, "valid": res.valid}


__all__ = ["ImageModel", "ImageModelConfig", "keypoint_heatmaps", "skin_vertices", "soft_argmax"]
