"""Real detector output with ground truth, for training the keypoint model beside synthetic noise.

A pairs file is an npz (`python -m training.pairs_convert` writes one from the people set's
detections, `datasets/handeval/pairs/*.npz`) with, for N detected hands:

    keypoints_px   (N, 21, 2) pixels: the detector's image landmarks
    keypoints_rel  (N, 21, 3) metres: the detector's world landmarks (camera-aligned)
    scores         (N, 21) or (N,) in [0, 1] (optional: ones)
    K              (N, 3, 3) or (3, 3) intrinsics
    keypoints_cam  (N, 21, 3) metres: ground-truth camera-space keypoints, our order
    side           (N,) "left" / "right" (or a single string for all)

Left hands are mirrored into right hands (image about the principal point, 3D about x), as
the estimator does at run time. `mix_pairs` swaps a share of a synthetic batch for pairs,
each turned by a random angle about the camera axis (`rotate_about_camera_axis`: 2D, the
detector's 3D and the ground truth alike), so a few hundred hands cover all in-plane rolls.
Letters: N pairs, B batch, J=21.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from handmocap.errors import FormatError, InputError

REQUIRED = {"keypoints_px": (21, 2), "keypoints_rel": (21, 3), "keypoints_cam": (21, 3)}


def load_detector_pairs(path, hand_model=None, definition: str = "mediapipe") -> dict:
    """Read a pairs npz into right-hand float32 tensors.

    Returns a dict: keypoints_px (N, J, 2), keypoints_rel (N, J, 3), scores (N, J), K (N, 3, 3),
    keypoints_cam (N, J, 3), landmarks_cam (N, J, 3) (the ground truth in the detector's
    definition, `solve.detector_offsets`).
    """
    from handmocap.hand.mirror import mirror_points
    from handmocap.solve.detector_offsets import detector_matrix

    path = Path(path)
    if not path.is_file():
        raise InputError(path, "detector pairs file not found")
    try:
        data = dict(np.load(path, allow_pickle=False))
    except (OSError, ValueError) as e:
        raise FormatError(path, f"not a readable npz of detector pairs ({e})") from e
    missing = sorted((set(REQUIRED) | {"K", "side"}) - set(data))
    if missing:
        raise FormatError(path, f"detector pairs need keys {missing}")
    n = data["keypoints_px"].shape[0]
    for key, shape in REQUIRED.items():
        if data[key].shape != (n, *shape):
            raise FormatError(path, f"{key} must be ({n}, {shape[0]}, {shape[1]}), got {data[key].shape}")
    t = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32))  # noqa: E731
    px, rel, kp = t(data["keypoints_px"]), t(data["keypoints_rel"]), t(data["keypoints_cam"])
    K = t(data["K"])
    K = K.expand(n, 3, 3).clone() if K.dim() == 2 else K
    sc = t(data["scores"]) if "scores" in data else torch.ones(n, 21)
    sc = sc[:, None].expand(n, 21).clone() if sc.dim() == 1 else sc
    side = np.broadcast_to(np.asarray(data["side"]).astype(str), (n,))
    left = torch.as_tensor(side == "left")
    if bool(left.any()):
        px[left, :, 0] = 2 * K[left, 0, 2][:, None] - px[left, :, 0]
        rel[left] = mirror_points(rel[left])
        kp[left] = mirror_points(kp[left])
    D = torch.tensor(detector_matrix(definition), dtype=torch.float32)
    return {"keypoints_px": px, "keypoints_rel": rel, "scores": sc, "K": K, "keypoints_cam": kp,
            "landmarks_cam": D @ kp}


def rotate_about_camera_axis(keypoints_px: torch.Tensor, points: list[torch.Tensor], K: torch.Tensor,
                             angle: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Turn the camera about its optical axis by `angle` (radians, (B,)), consistently in 2D and 3D.

    The 3D points (camera frame, or camera-aligned like the detector's world landmarks) rotate
    about z; the pixels rotate about the principal point in normalised image coordinates (exact
    for fx != fy too: the new pixels are the projections of the rotated points).

    Args:
        keypoints_px: (B, J, 2) pixels.
        points: list of (B, J, 3) metres (e.g. detector 3D, ground truth).
        K: (B, 3, 3) intrinsics (no skew).
        angle: (B,) radians, counter-clockwise about +z.

    Returns:
        (keypoints_px (B, J, 2), [rotated points (B, J, 3)]).
    """
    c, s = torch.cos(angle)[:, None], torch.sin(angle)[:, None]
    f, pp = K[:, None, [0, 1], [0, 1]], K[:, None, [0, 1], [2, 2]]
    xy = (keypoints_px - pp) / f
    xy = torch.stack([c * xy[..., 0] - s * xy[..., 1], s * xy[..., 0] + c * xy[..., 1]], -1)
    turned = [torch.stack([c * p[..., 0] - s * p[..., 1], s * p[..., 0] + c * p[..., 1], p[..., 2]], -1)
              for p in points]
    return xy * f + pp, turned


def mix_pairs(batch: dict, obs: dict, pairs: dict, fraction: float, g: torch.Generator,
              rotate_deg: float = 0.0) -> tuple[dict, dict]:
    """Replace the first round(fraction * B) items of a synthetic batch and its observation by
    random detector pairs (`has_params` marks the items with hand-model parameters), each
    turned about the camera axis by an angle uniform in [-rotate_deg, rotate_deg]."""
    B = batch["K"].shape[0]
    m = int(round(min(max(fraction, 0.0), 1.0) * B))
    batch = dict(batch)
    obs = dict(obs)
    batch["has_params"] = torch.arange(B) >= m
    if m == 0:
        return batch, obs
    idx = torch.randint(0, pairs["K"].shape[0], (m,), generator=g)
    new = {k: pairs[k][idx] for k in ("K", "keypoints_cam", "landmarks_cam", "keypoints_px", "keypoints_rel", "scores")}
    if rotate_deg > 0:
        angle = (2 * torch.rand(m, generator=g) - 1) * rotate_deg * torch.pi / 180
        new["keypoints_px"], (new["keypoints_rel"], new["keypoints_cam"], new["landmarks_cam"]) = \
            rotate_about_camera_axis(new["keypoints_px"], [new["keypoints_rel"], new["keypoints_cam"],
                                                           new["landmarks_cam"]], new["K"], angle)
    for key in ("K", "keypoints_cam", "landmarks_cam"):
        batch[key] = torch.cat([new[key].to(batch[key].dtype), batch[key][m:]])
    for key in ("keypoints_px", "keypoints_rel", "scores"):
        obs[key] = torch.cat([new[key].to(obs[key].dtype), obs[key][m:]])
    return batch, obs


__all__ = ["load_detector_pairs", "mix_pairs", "rotate_about_camera_axis"]
