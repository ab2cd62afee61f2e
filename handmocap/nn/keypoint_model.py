"""The keypoint model (Boukhayma et al.'s "2D" input variant with HandDGP's heads).

Input: a detector's 21 image keypoints, its metric root-relative 3D keypoints and scores.
Both are rotated into a virtual camera that looks straight at the hand (HandDGP sec. 3.3 as a
perspective crop, `camera.rectify.look_at_rotation`), normalised (2D by its angular extent,
3D by its metric extent) and fed to a residual MLP over the flattened 21 tokens. Heads
predict 16 rotations (6D: global orientation in the virtual camera + 15 local joints), shape,
per-keypoint DGP weights (sigmoid) and a weak-perspective (s, t). The decoder is the hand
model (21 keypoints by forward kinematics, `KeypointDecoder`); the camera-space translation
comes from the differentiable global positioning (DGP, HandDGP eq. 7) of the detector-
definition landmarks onto the input 2D keypoints, in the virtual camera, and is mapped back.

Translation modes (`KeypointModelConfig.translation`, the ablation's variants):
    "dgp"   DGP with the predicted weights (HandDGP; trained end to end through it)
    "root"  root regression: log-depth and image offset regressed from the features
    "weak"  weak perspective: x = s Pi(R X) + t (Boukhayma eq. 3-4), depth = f / s

Everything works in normalised image coordinates (K^-1 x), so K only enters when pixels are
converted; the virtual camera has focal `CANONICAL_FOCAL` (sets the pixel unit of the DGP
residual only). Letters: B batch, J=21 keypoints.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from ..camera.pinhole import unproject
from ..camera.rectify import look_at_rotation
from ..geometry.lbs import forward_kinematics
from ..solve.dgp import solve_translation
from .heads import HandParamHead, ResidualMLPBlock

CANONICAL_FOCAL = 500.0
NUM_FEATURES = 21 * 6 + 4
MODES = ("dgp", "root", "weak")


@dataclass(frozen=True)
class KeypointModelConfig:
    """Architecture and camera handling of the keypoint model.

    width: hidden width of the residual MLP.  blocks: residual blocks.
    rectify: rotate the input into a virtual camera looking at the hand (False: real camera).
    translation: "dgp", "root" or "weak" (module docstring).
    definition: the detector's landmark definition (`solve.detector_offsets`).
    """

    width: int = 512
    blocks: int = 4
    rectify: bool = True
    translation: str = "dgp"
    definition: str = "mediapipe"

    def to_dict(self) -> dict:
        return asdict(self)


class KeypointDecoder(nn.Module):
    """The hand model's 21 keypoints from rotation matrices (no mesh skinning: fast).

    Same joints as `HandModel(...).keypoints` (it reuses `solve.fitting.KeypointLayer`'s
    arrays), but takes rotations directly so 6D outputs need no axis-angle round trip.
    """

    def __init__(self, hand_model, dtype=torch.float32):
        super().__init__()
        from ..solve.fitting import KeypointLayer

        layer = KeypointLayer(hand_model, dtype=dtype)
        self.layer = layer
        for name in ("J_template", "J_dirs", "tip_template", "tip_dirs", "tip_weights", "hands_mean"):
            self.register_buffer(name, getattr(layer, name).clone(), persistent=False)
        self.register_buffer("tip_posedirs", None if layer.tip_posedirs is None else layer.tip_posedirs.clone(),
                             persistent=False)
        self.register_buffer("kp_index", layer.kp_index.clone(), persistent=False)
        self.parents = layer.parents

    def rest(self, betas: torch.Tensor):
        """betas (B, S) -> rest joints (B, 16, 3), rest fingertips (B, 5, 3), metres."""
        joints = self.J_template + torch.einsum("bs,jcs->bjc", betas, self.J_dirs)
        tips = self.tip_template + torch.einsum("bs,kcs->bkc", betas, self.tip_dirs)
        return joints, tips

    def forward(self, rotations: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        """rotations (B, 16, 3, 3) (root + local, hands_mean already included), betas (B, S)
        -> keypoints (B, 21, 3) metres, model frame rotated by the root (no translation)."""
        B = rotations.shape[0]
        joints_rest, tips_rest = self.rest(betas)
        if self.tip_posedirs is not None:
            eye = torch.eye(3, dtype=rotations.dtype, device=rotations.device)
            tips_rest = tips_rest + ((rotations[:, 1:] - eye).flatten(1) @ self.tip_posedirs).reshape(B, 5, 3)
        joints, T = forward_kinematics(rotations, joints_rest, self.parents)
        A = torch.einsum("kj,bjxy->bkxy", self.tip_weights, T)
        tips = (A[..., :3] @ tips_rest[..., None])[..., 0] + A[..., 3]
        return torch.cat([joints, tips], 1)[:, self.kp_index]


@dataclass
class CanonicalInput:
    """Detector input in the (virtual) camera the network sees.

    Attributes:
        R: (B, 3, 3) virtual-from-real rotation (identity without rectification).
        uv: (B, J, 2) normalised image coordinates in the virtual camera (x/z, y/z).
        rel: (B, J, 3) metres, the detector's 3D keypoints rotated into the virtual camera.
        weights: (B, J) scores in [0, 1], 0 for unusable keypoints.
        centre: (B, 2) weighted mean of uv.  size2d: (B,) RMS angular extent of uv.
        size3d: (B,) metres, RMS extent of rel.
        features: (B, NUM_FEATURES) the network input.
    """

    R: torch.Tensor
    uv: torch.Tensor
    rel: torch.Tensor
    weights: torch.Tensor
    centre: torch.Tensor
    size2d: torch.Tensor
    size3d: torch.Tensor
    features: torch.Tensor


def _wmean(x, w):
    return (w[..., None] * x).sum(1) / w.sum(1).clamp_min(1e-9)[:, None]


def canonical_input(keypoints_px: torch.Tensor, keypoints_rel: torch.Tensor, scores: torch.Tensor,
                    K: torch.Tensor, rectify: bool = True) -> CanonicalInput:
    """Rectify and normalise detector output for the network.

    Args:
        keypoints_px: (B, J, 2) pixels (undistorted).  keypoints_rel: (B, J, 3) metres,
            camera-aligned.  scores: (B, J) in [0, 1].  K: (3, 3) or (B, 3, 3).
        rectify: rotate into a virtual camera looking at the keypoints' bounding-box centre.
    """
    finite = torch.isfinite(keypoints_px).all(-1) & torch.isfinite(keypoints_rel).all(-1) & torch.isfinite(scores)
    w = torch.where(finite, scores.clamp(0, 1), torch.zeros_like(scores))
    px = torch.where(finite[..., None], keypoints_px, torch.zeros_like(keypoints_px))
    rel = torch.where(finite[..., None], keypoints_rel, torch.zeros_like(keypoints_rel))
    B = px.shape[0]
    K = K.to(px.dtype).expand(B, 3, 3) if K.dim() == 2 else K.to(px.dtype)
    rays = unproject(px, K)  # (B, J, 3), z = 1
    use = (w > 0)[..., None]
    big = 1e9
    lo = torch.where(use, px, torch.full_like(px, big)).amin(1)
    hi = torch.where(use, px, torch.full_like(px, -big)).amax(1)
    centre_px = torch.where(use.any(1), 0.5 * (lo + hi), K[:, :2, 2])
    if rectify:
        R = look_at_rotation(unproject(centre_px, K))
    else:
        R = torch.eye(3, dtype=px.dtype, device=px.device).expand(B, 3, 3)
    rays_v = rays @ R.transpose(-1, -2)
    uv = rays_v[..., :2] / rays_v[..., 2:].clamp_min(1e-6)
    rel_v = rel @ R.transpose(-1, -2)
    m2 = _wmean(uv, w + 1e-9)
    s2 = ((w * ((uv - m2[:, None]) ** 2).sum(-1)).sum(-1) / w.sum(-1).clamp_min(1e-9)).sqrt().clamp_min(1e-6)
    m3 = _wmean(rel_v, w + 1e-9)
    s3 = ((w * ((rel_v - m3[:, None]) ** 2).sum(-1)).sum(-1) / w.sum(-1).clamp_min(1e-9)).sqrt().clamp_min(1e-4)
    valid = (w > 0).to(px.dtype)[..., None]
    uv_n = (uv - m2[:, None]) / s2[:, None, None] * valid
    rel_n = (rel_v - m3[:, None]) / s3[:, None, None] * valid
    glob = torch.stack([torch.log(s2) + 2.0, torch.log(s3 / 0.05), m2[:, 0] * 5, m2[:, 1] * 5], -1)
    feats = torch.cat([uv_n.flatten(1), rel_n.flatten(1), w, glob], -1)
    return CanonicalInput(R, uv, rel_v, w, m2, s2, s3, feats)


class KeypointModel(nn.Module):
    """Residual MLP: canonical features (B, NUM_FEATURES) -> `HandParamHead` outputs."""

    def __init__(self, config: KeypointModelConfig = KeypointModelConfig()):
        super().__init__()
        if config.translation not in MODES:
            raise ValueError(f"translation must be one of {MODES}, got {config.translation!r}")
        self.config = config
        self.stem = nn.Linear(NUM_FEATURES, config.width)
        self.blocks = nn.Sequential(*[ResidualMLPBlock(config.width) for _ in range(config.blocks)])
        self.head = HandParamHead(config.width)

    def forward(self, features: torch.Tensor) -> dict:
        return self.head(self.blocks(self.stem(features)))


def num_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass
class Prediction:
    """Output of `run_keypoint_model`, in the virtual camera (`_v`) and the real camera.

    Attributes (B batch):
        rotations_v: (B, 16, 3, 3) root (virtual camera) + local joint rotations.
        betas: (B, S).  weights: (B, J) DGP weights (sigmoid).
        keypoints_v: (B, J, 3) model keypoints, root-rotated, no translation (virtual frame).
        landmarks_v: (B, J, 3) the same in the detector's landmark definition.
        transl_v: (B, 3) metres: virtual-camera keypoints = keypoints_v + transl_v.
        transl_weak_v: (B, 3) metres, weak-perspective translation (depth = 1 / s).
        weak_uv: (B, J, 2) weak-perspective projection of the landmarks (normalised coords).
        valid: (B,) bool, translation defined.
        canonical: the `CanonicalInput`.
    """

    rotations_v: torch.Tensor
    betas: torch.Tensor
    weights: torch.Tensor
    keypoints_v: torch.Tensor
    landmarks_v: torch.Tensor
    transl_v: torch.Tensor
    transl_weak_v: torch.Tensor
    weak_uv: torch.Tensor
    valid: torch.Tensor
    canonical: CanonicalInput

    def keypoints_cam(self) -> torch.Tensor:
        """(B, J, 3) metres, real camera frame."""
        return (self.keypoints_v + self.transl_v[:, None]) @ self.canonical.R


def translate(mode: str, landmarks_v: torch.Tensor, weights: torch.Tensor, out: dict, ci: CanonicalInput):
    """Translation (B, 3) in the virtual camera for `mode`, the weak-perspective translation
    (B, 3), its projection (B, J, 2) and validity (B,).

    DGP solves in a virtual camera with focal CANONICAL_FOCAL and principal point 0, on the
    detector's 2D keypoints, with weights = predicted weight x detector score.
    """
    B = landmarks_v.shape[0]
    dtype, device = landmarks_v.dtype, landmarks_v.device
    w_in = ci.weights
    # weak perspective (Boukhayma eq. 3-4): scale relative to the landmarks' own 2D extent
    c = _wmean(landmarks_v, w_in + 1e-9)
    d = landmarks_v[..., :2] - c[:, None, :2]
    extent = ((w_in * (d ** 2).sum(-1)).sum(-1) / w_in.sum(-1).clamp_min(1e-9)).sqrt().clamp_min(1e-5)
    s = ci.size2d / extent * torch.exp(out["weak"][:, 0].clamp(-3, 3))
    offset = ci.centre + ci.size2d[:, None] * out["weak"][:, 1:]
    weak_uv = s[:, None, None] * d + offset[:, None]
    depth = 1.0 / s
    transl_weak = torch.cat([offset * depth[:, None], depth[:, None]], -1) - c
    valid = torch.ones(B, dtype=torch.bool, device=device)
    if mode == "dgp":
        Kv = torch.tensor([[CANONICAL_FOCAL, 0, 0], [0, CANONICAL_FOCAL, 0], [0, 0, 1]], dtype=dtype, device=device)
        res = solve_translation(ci.uv * CANONICAL_FOCAL, landmarks_v, weights * w_in + 1e-6, Kv)
        return res.transl, transl_weak, weak_uv, res.valid
    if mode == "root":
        z = ci.size3d / ci.size2d * torch.exp(out["root"][:, 0].clamp(-3, 3))
        off = ci.centre + ci.size2d[:, None] * out["root"][:, 1:]
        return torch.cat([off * z[:, None], z[:, None]], -1) - c, transl_weak, weak_uv, valid
    return transl_weak, transl_weak, weak_uv, valid


def run_keypoint_model(model: KeypointModel, decoder: KeypointDecoder, D: torch.Tensor,
                       keypoints_px: torch.Tensor, keypoints_rel: torch.Tensor, scores: torch.Tensor,
                       K: torch.Tensor, mode: str | None = None) -> Prediction:
    """Right hands: detector output -> `Prediction` (differentiable end to end).

    Args:
        model, decoder: the network and the hand-model decoder.
        D: (J, J) detector-definition matrix (`solve.detector_offsets.detector_matrix`).
        keypoints_px: (B, J, 2) pixels; keypoints_rel: (B, J, 3) metres; scores: (B, J);
        K: (3, 3) or (B, 3, 3) intrinsics.
        mode: translation mode; default `model.config.translation`.
    """
    ci = canonical_input(keypoints_px, keypoints_rel, scores, K, model.config.rectify)
    out = model(ci.features)
    rot = out["rotations"]
    # the network predicts full local rotations (hands_mean included); hand_pose = aa - hands_mean
    kp = decoder(rot, out["betas"])
    lm = D.to(kp.dtype) @ kp
    weights = torch.sigmoid(out["weight_logits"])
    transl, transl_weak, weak_uv, valid = translate(mode or model.config.translation, lm, weights, out, ci)
    return Prediction(rot, out["betas"], weights, kp, lm, transl, transl_weak, weak_uv, valid, ci)


__all__ = ["CANONICAL_FOCAL", "CanonicalInput", "KeypointDecoder", "KeypointModel", "KeypointModelConfig",
           "Prediction", "canonical_input", "num_parameters", "run_keypoint_model", "translate"]
