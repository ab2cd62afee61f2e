"""Synthetic training data for the keypoint model: random hands in random cameras, seen
through a detector-like noise model.

A *scene* is exact ground truth: pose (joint-limit sampler / named poses), shape
beta ~ N(0, 1), a uniformly random global orientation, a random camera (field of view
35-100 degrees across the larger image side, several image sizes) and a hand centre anywhere
in view at depth 0.2-1.5 m. Scenes are generated once per seed (`make_scenes`).

A *detector observation* of a batch of scenes is drawn fresh every time
(`detector_observation`), imitating MediaPipe (design.md, "MediaPipe's keypoints against the
open hand model"): its landmark definition (wrist and MCPs moved, `solve.detector_offsets`),
2D jitter proportional to the hand's image size, occluded keypoints displaced in 2D and 3D,
metric 3D that is camera-aligned, centred near the hand centre, of the wrong overall size
(the detector does not know the hand's size), with a compressed, noisy depth axis and a small
rotation error, and scores that are low where keypoints were corrupted.

Letters: N scenes, B batch, J=21 keypoints.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from handmocap.camera.pinhole import project
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.solve.detector_offsets import detector_matrix

# Right-hand model axes (training/render/animate.py): fingers point -x, palm faces -y, thumb +z.
_FLEX = np.array([0.0, 0.0, 1.0])  # curls a finger towards the palm
_SPREAD = np.array([0.0, 1.0, 0.0])  # abduction towards the thumb
_THUMB_FLEX = np.array([0.67, 0.0, 0.75]) / np.linalg.norm([0.67, 0.0, 0.75])
_THUMB_OPPOSE = np.array([0.0, -1.0, 0.0])
_FINGER_SLOTS = {"index": 0, "middle": 3, "pinky": 6, "ring": 9}  # first joint row, MANO order
_FAN = {"index": 1.0, "middle": 0.0, "ring": -1.0, "pinky": -2.0}
_FINGER_MAX = np.array([1.45, 1.6, 1.0])  # MCP, PIP, DIP flexion at curl 1 (radians)
_THUMB = 12


@dataclass(frozen=True)
class SceneConfig:
    """Ranges of the random scenes.

    fov_deg: field of view across the larger image side.  depth_m: hand-centre depth.
    image_sizes: (width, height) choices.  margin: hand centre stays this fraction inside
    the image border.  named_fraction: share of poses that are perturbed named poses.
    limits_fraction: share drawn from `hand.limits`' joint-limit sampler when it exists.
    pose_noise: std (radians) of the off-axis variation added to every curl-sampler joint.
    betas_std: std of the shape coefficients (N(0, betas_std^2)).
    """

    fov_deg: tuple = (35.0, 100.0)
    depth_m: tuple = (0.2, 1.5)
    image_sizes: tuple = ((640, 480), (1280, 720), (1920, 1080), (480, 360), (720, 1280), (1080, 1920))
    margin: float = 0.08
    named_fraction: float = 0.1
    limits_fraction: float = 0.3
    pose_noise: float = 0.06
    betas_std: float = 1.0


@dataclass(frozen=True)
class NoiseConfig:
    """Detector-like corruption (fractions are of the hand's 2D bounding-box diagonal).

    jitter: range of the per-hand 2D noise std.  occlusion_prob: chance a hand has corrupted
    keypoints; occluded_max: up to this many; occluded_shift: their 2D displacement std.
    scale_std: relative error of the 3D size.  depth_scale: range of the 3D depth-axis factor.
    noise_3d_m: range of the per-hand 3D noise std (metres).  rot_deg: 3D rotation error std.
    score: range of the per-hand score; drop_prob: chance a hand has 1-3 keypoints scored 0.
    clean_fraction: share of hands seen exactly (a perfect detector: exact landmarks in 2D and
        3D, scores 1), so the model learns to use good input fully instead of hedging.
    """

    jitter: tuple = (0.004, 0.035)
    occlusion_prob: float = 0.35
    occluded_max: int = 4
    occluded_shift: float = 0.12
    scale_std: float = 0.1
    depth_scale: tuple = (0.45, 1.1)
    noise_3d_m: tuple = (0.002, 0.008)
    rot_deg: float = 6.0
    score: tuple = (0.5, 1.0)
    drop_prob: float = 0.05
    clean_fraction: float = 0.0


# poses ------------------------------------------------------------------------------------
def curl_poses(n: int, rng: np.random.Generator, noise: float = 0.06) -> np.ndarray:
    """(n, 45) right-hand poses from random per-finger curls, spread and thumb opposition,
    with per-joint variation (radians, flat_hand_mean)."""
    pose = np.zeros((n, 15, 3))
    together = rng.random(n) < 0.35  # fingers often curl together (fist, grasp)
    base = rng.random(n)
    spread = rng.uniform(-0.1, 0.35, n)
    for name, slot in _FINGER_SLOTS.items():
        curl = np.where(together, np.clip(base + rng.normal(0, 0.12, n), 0, 1), rng.random(n))
        for k in range(3):
            angle = curl * _FINGER_MAX[k] * rng.uniform(0.7, 1.2, n)
            if k == 0:
                angle = angle + rng.normal(0, 0.12, n) - 0.1 * (curl < 0.1)  # some hyper-extension
            pose[:, slot + k] = angle[:, None] * _FLEX
        pose[:, slot] += (spread * _FAN[name] * (1 - curl))[:, None] * _SPREAD
    tc = rng.random(n)
    opp = rng.random(n)
    pose[:, _THUMB] = (0.6 * tc)[:, None] * _THUMB_FLEX + (0.9 * opp - 0.1)[:, None] * _THUMB_OPPOSE
    pose[:, _THUMB + 1] = (0.8 * tc * rng.uniform(0.6, 1.2, n))[:, None] * _THUMB_FLEX
    pose[:, _THUMB + 2] = (1.0 * tc * rng.uniform(0.6, 1.2, n))[:, None] * _THUMB_FLEX
    pose += rng.normal(0, noise, pose.shape)  # off-axis variation everywhere
    return pose.reshape(n, 45)


def named_poses() -> dict[str, np.ndarray]:
    """Named right-hand poses: the pose library's where it exists, plus the render presets."""
    out = {}
    try:
        from training.render.animate import _own_poses

        out.update(_own_poses())
    except ImportError:
        out["flat"] = np.zeros(45)
    try:
        from handmocap.hand import poses as library

        for name in library.named_pose_names():
            out[name] = np.asarray(library.named_pose(name), dtype=np.float64).reshape(45)
    except (ImportError, AttributeError, KeyError, ValueError):
        pass
    return out


def _limit_poses(n: int, seed: int) -> np.ndarray | None:
    """Poses from the joint-limit sampler (`handmocap.hand.poses.sample_hand_pose`) if present."""
    try:
        from handmocap.hand.poses import sample_hand_pose
    except ImportError:
        return None
    try:
        p = sample_hand_pose(n, seed=seed)
    except TypeError:
        return None
    return np.asarray(p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else p, dtype=np.float64).reshape(n, 45)


def sample_poses(n: int, seed: int, cfg: SceneConfig = SceneConfig()) -> tuple[np.ndarray, str]:
    """(n, 45) poses and a description of the sources used."""
    rng = np.random.default_rng([seed, 1])
    pose = curl_poses(n, rng, cfg.pose_noise)
    sources = "curl"
    n_lim = int(round(cfg.limits_fraction * n))
    lim = _limit_poses(n_lim, seed) if n_lim else None
    if lim is not None:
        idx = rng.choice(n, n_lim, replace=False)
        pose[idx] = lim
        sources += "+limits"
    names = named_poses()
    n_named = int(round(cfg.named_fraction * n))
    if n_named and names:
        keys = sorted(names)
        idx = rng.choice(n, n_named, replace=False)
        picks = rng.integers(0, len(keys), n_named)
        pose[idx] = np.stack([names[keys[k]] for k in picks]) + rng.normal(0, 0.1, (n_named, 45))
        sources += "+named"
    return pose, sources


# scenes -----------------------------------------------------------------------------------
def make_scenes(n: int, seed: int, hand_model, cfg: SceneConfig = SceneConfig(),
                definition: str = "mediapipe", chunk: int = 8192) -> dict:
    """`n` random right-hand scenes with exact ground truth (float32 tensors).

    Returns a dict: global_orient (N, 3) camera frame; hand_pose (N, 45); betas (N, 10);
    transl (N, 3) metres (camera mesh = HandModel(...) + transl); K (N, 3, 3);
    image_size (N, 2); keypoints_cam (N, J, 3) the model's joints; landmarks_cam (N, J, 3)
    in the detector's definition; rotations (N, 16, 3, 3) root (camera) + local.
    """
    from handmocap.solve.fitting import KeypointLayer

    rng = np.random.default_rng([seed, 2])
    pose, _ = sample_poses(n, seed, cfg)
    betas = rng.normal(0, cfg.betas_std, (n, hand_model.num_betas))
    orient = Rotation.random(n, random_state=np.random.RandomState(seed % (2 ** 31))).as_rotvec()
    sizes = np.asarray(cfg.image_sizes, dtype=np.float64)[rng.integers(0, len(cfg.image_sizes), n)]
    fov = np.radians(rng.uniform(*cfg.fov_deg, n))
    f = 0.5 * sizes.max(1) / np.tan(fov / 2)
    cx = (sizes[:, 0] - 1) / 2 * (1 + rng.normal(0, 0.01, n))
    cy = (sizes[:, 1] - 1) / 2 * (1 + rng.normal(0, 0.01, n))
    K = np.zeros((n, 3, 3))
    K[:, 0, 0] = K[:, 1, 1] = f
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = cx, cy, 1.0
    u = rng.uniform(cfg.margin, 1 - cfg.margin, n) * sizes[:, 0]
    v = rng.uniform(cfg.margin, 1 - cfg.margin, n) * sizes[:, 1]
    depth = rng.uniform(*cfg.depth_m, n)

    layer = KeypointLayer(hand_model, dtype=torch.float64)
    D = torch.tensor(detector_matrix(definition))
    t = lambda a: torch.as_tensor(a, dtype=torch.float64)  # noqa: E731
    kps, lms = [], []
    for s in range(0, n, chunk):
        sl = slice(s, min(n, s + chunk))
        with torch.no_grad():
            kp = layer(axis_angle_to_matrix(t(orient[sl])), t(pose[sl]), t(betas[sl]))
        kps.append(kp)
        lms.append(D @ kp)
    kp, lm = torch.cat(kps), torch.cat(lms)
    centre = lm.mean(1)
    target = torch.stack([(t(u) - t(cx)) / t(f), (t(v) - t(cy)) / t(f), torch.ones(n, dtype=torch.float64)], -1) * t(depth)[:, None]
    transl = target - centre
    kp_cam, lm_cam = kp + transl[:, None], lm + transl[:, None]
    # keep every keypoint at least 5 cm in front of the camera (very close, rotated hands)
    push = (0.05 - kp_cam[..., 2].amin(1)).clamp_min(0)
    shift = torch.stack([torch.zeros(n, dtype=torch.float64)] * 2 + [push], -1)
    transl, kp_cam, lm_cam = transl + shift, kp_cam + shift[:, None], lm_cam + shift[:, None]
    hm = layer.hands_mean.reshape(15, 3)
    local = axis_angle_to_matrix(t(pose).reshape(n, 15, 3) + hm)
    rotations = torch.cat([axis_angle_to_matrix(t(orient))[:, None], local], 1)
    f32 = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    return {"global_orient": f32(orient), "hand_pose": f32(pose), "betas": f32(betas), "transl": f32(transl),
            "K": f32(K), "image_size": f32(sizes), "keypoints_cam": f32(kp_cam), "landmarks_cam": f32(lm_cam),
            "rotations": f32(rotations)}


def index_scenes(scenes: dict, idx) -> dict:
    """The scenes at `idx` (tensor of indices or slice)."""
    return {k: v[idx] for k, v in scenes.items()}


# detector observation ---------------------------------------------------------------------
def _bbox_diag(px: torch.Tensor) -> torch.Tensor:
    return (px.amax(1) - px.amin(1)).norm(dim=-1).clamp_min(1.0)


def _random_rotation(B: int, std_rad: float, g: torch.Generator, dtype) -> torch.Tensor:
    return axis_angle_to_matrix(torch.randn(B, 3, generator=g, dtype=dtype) * std_rad)


def detector_observation(scenes: dict, generator: torch.Generator, noise: NoiseConfig = NoiseConfig()) -> dict:
    """A detector's view of a batch of scenes.

    Returns a dict: keypoints_px (B, J, 2) pixels; keypoints_rel (B, J, 3) metres,
    camera-aligned, centred near the hand centre; scores (B, J) in [0, 1];
    keypoints_px_clean (B, J, 2) exact projection of the landmarks; corrupted (B, J) bool.
    """
    g = generator
    lm = scenes["landmarks_cam"]
    B, J, _ = lm.shape
    dtype = lm.dtype
    U = lambda lo, hi, *shape: lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=dtype)  # noqa: E731
    clean = project(lm, scenes["K"])
    size = _bbox_diag(clean)
    sigma = U(*noise.jitter, B) * size
    px = clean + torch.randn(B, J, 2, generator=g, dtype=dtype) * sigma[:, None, None]
    # occluded / confused keypoints: a few per hand, displaced in 2D and 3D
    has = torch.rand(B, generator=g) < noise.occlusion_prob
    count = torch.randint(1, noise.occluded_max + 1, (B,), generator=g)
    order = torch.rand(B, J, generator=g).argsort(1)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(J).expand(B, J).contiguous())
    corrupted = has[:, None] & (rank < count[:, None])
    shift2 = torch.randn(B, J, 2, generator=g, dtype=dtype) * (noise.occluded_shift * size)[:, None, None]
    px = torch.where(corrupted[..., None], px + shift2, px)
    # metric 3D: camera-aligned, wrong size, compressed depth, rotation error, noise
    c = lm.mean(1, keepdim=True)
    rel = lm - c
    R = _random_rotation(B, math.radians(noise.rot_deg), g, dtype)
    rel = rel @ R.transpose(-1, -2)
    scale = (1 + noise.scale_std * torch.randn(B, generator=g, dtype=dtype)).clamp(0.6, 1.5)
    axis = torch.stack([scale, scale, scale * U(*noise.depth_scale, B)], -1)
    rel = rel * axis[:, None]
    rel = rel + torch.randn(B, J, 3, generator=g, dtype=dtype) * U(*noise.noise_3d_m, B)[:, None, None]
    rel = torch.where(corrupted[..., None], rel + 0.02 * torch.randn(B, J, 3, generator=g, dtype=dtype), rel)
    rel = rel + 0.01 * torch.randn(B, 1, 3, generator=g, dtype=dtype)  # origin only near the centre
    # scores: one per hand, lower on corrupted keypoints for about half the hands
    s = U(*noise.score, B)[:, None].expand(B, J).clone()
    lower = corrupted & (torch.rand(B, 1, generator=g) < 0.5)
    s = torch.where(lower, s * U(0.1, 0.6, B, J), s)
    drop = (torch.rand(B, generator=g) < noise.drop_prob)[:, None] & (rank < 2)
    s = torch.where(drop, torch.zeros_like(s), s)
    if noise.clean_fraction > 0:  # drawn last: the noisy hands' draws stay as without it
        exact = (torch.rand(B, generator=g) < noise.clean_fraction)
        e = exact[:, None]
        px = torch.where(e[..., None], clean, px)
        rel = torch.where(e[..., None], lm - c, rel)
        s = torch.where(e, torch.ones_like(s), s)
        corrupted = corrupted & ~e
    return {"keypoints_px": px, "keypoints_rel": rel, "scores": s, "keypoints_px_clean": clean,
            "corrupted": corrupted}


__all__ = ["NoiseConfig", "SceneConfig", "curl_poses", "detector_observation", "index_scenes", "make_scenes",
           "named_poses", "sample_poses"]
