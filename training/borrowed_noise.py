"""Detector errors borrowed from real pairs, for synthetic hands.

The hand-made noise model (`synthetic.detector_observation`) draws independent jitter,
corruptions and a depth squash; MediaPipe's real errors on people are structured (flattened
fingers on dorsal views, confusions edge-on, offsets that follow the view). The real pairs
(`pairs.load_detector_pairs`) hold those errors but only for ~1,200 hands and without
hand-model parameters. Here each synthetic hand takes the errors MediaPipe made on a real
hand seen from a similar direction, carried over in the hands' own frames:

    3D: e = s * (detector 3D - its mean) - (true landmarks - their mean)   (s: least-squares scale)
        stored in the true hand's frame per palm length, put back in the synthetic hand's frame
    2D: e = detector 2D - projected true landmarks, stored turned to the hand's image axis per
        its 2D box diagonal, put back likewise

A donor is drawn among the `k` real hands whose camera direction, seen from the hand
(`view_directions`), is nearest the synthetic hand's, so errors that belong to the camera
(depth squash along the view ray) stay along the view ray. The size error is drawn as in
the hand-made model (the detector does not know the hand's size). Letters: B hands, N
donors, J = 21.
"""
from __future__ import annotations

import torch

from handmocap.camera.pinhole import project


def hand_frames(landmarks: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 3, 3) rows = the hand's axes (wrist -> middle MCP, palm normal, their cross), and
    (B,) palm lengths (wrist -> middle MCP), of landmarks (B, J, 3) in MediaPipe's order."""
    x = landmarks[:, 9] - landmarks[:, 0]
    palm = x.norm(dim=-1).clamp_min(1e-6)
    x = x / palm[:, None]
    n = torch.linalg.cross(landmarks[:, 5] - landmarks[:, 0], landmarks[:, 17] - landmarks[:, 0])
    n = n - (n * x).sum(-1, keepdim=True) * x
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return torch.stack([x, n, torch.linalg.cross(x, n)], 1), palm


def view_directions(landmarks_cam: torch.Tensor) -> torch.Tensor:
    """(B, 3) unit direction from the wrist to the camera, in the hand's frame."""
    frames, _ = hand_frames(landmarks_cam)
    to_camera = -landmarks_cam[:, 0]
    to_camera = to_camera / to_camera.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    return (frames @ to_camera[..., None])[..., 0]


def _image_axes(px: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, 2, 2) rows = the hand's image axes (wrist -> middle MCP and its normal), (B,) box diagonal."""
    d = px[:, 9] - px[:, 0]
    d = d / d.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    axes = torch.stack([d, torch.stack([-d[:, 1], d[:, 0]], -1)], 1)
    diag = (px.amax(1) - px.amin(1)).norm(dim=-1).clamp_min(1.0)
    return axes, diag


def error_bank(pairs: dict, centred: bool = True) -> dict:
    """The pairs' errors in their hands' frames.

    pairs: `load_detector_pairs` output (right hands). centred: take each keypoint's mean
    error over the bank away. The pairs' ground truth is anny's skeleton, whose joints sit a
    little apart from the open hand model's, so the mean error is mostly that difference, not
    the detector's: lent to synthetic hands of our model it taught a bias (own clips'
    PA-MPJPE 6.8 -> 8.1 mm). Returns errors_3d (N, J, 3) per palm length, errors_2d (N, J, 2)
    per box diagonal, views (N, 3), scores (N, J)."""
    lm, rel, px, K = pairs["landmarks_cam"], pairs["keypoints_rel"], pairs["keypoints_px"], pairs["K"]
    true_rel = lm - lm.mean(1, keepdim=True)
    det_rel = rel - rel.mean(1, keepdim=True)
    scale = (det_rel * true_rel).sum((1, 2)) / (det_rel * det_rel).sum((1, 2)).clamp_min(1e-12)
    frames, palm = hand_frames(lm)
    e3 = (scale[:, None, None] * det_rel - true_rel) @ frames.transpose(1, 2) / palm[:, None, None]
    clean = project(lm, K)
    axes, diag = _image_axes(clean)
    e2 = (px - clean) @ axes.transpose(1, 2) / diag[:, None, None]
    if centred:
        e3, e2 = e3 - e3.mean(0), e2 - e2.mean(0)
    return {"errors_3d": e3, "errors_2d": e2, "views": view_directions(lm), "scores": pairs["scores"]}


def borrowed_observation(batch: dict, bank: dict, g: torch.Generator, k: int = 16,
                         scale_std: float = 0.1) -> dict:
    """A detector's view of synthetic scenes with errors borrowed from `bank` (`error_bank`).

    batch: scenes (`synthetic.index_scenes`) with landmarks_cam (B, J, 3) and K (B, 3, 3).
    Returns the keys of `synthetic.detector_observation`."""
    lm, K = batch["landmarks_cam"], batch["K"]
    B, J, _ = lm.shape
    views = view_directions(lm)
    nearest = (views @ bank["views"].T).topk(min(k, bank["views"].shape[0]), dim=1).indices  # (B, k)
    donor = nearest[torch.arange(B), torch.randint(0, nearest.shape[1], (B,), generator=g)]
    frames, palm = hand_frames(lm)
    centre = lm.mean(1, keepdim=True)
    rel = (lm - centre) + (bank["errors_3d"][donor] * palm[:, None, None]) @ frames
    size = (1 + scale_std * torch.randn(B, generator=g, dtype=lm.dtype)).clamp(0.6, 1.5)
    rel = rel * size[:, None, None] + 0.01 * torch.randn(B, 1, 3, generator=g, dtype=lm.dtype)
    clean = project(lm, K)
    axes, diag = _image_axes(clean)
    px = clean + (bank["errors_2d"][donor] * diag[:, None, None]) @ axes
    return {"keypoints_px": px, "keypoints_rel": rel, "scores": bank["scores"][donor].clone(),
            "keypoints_px_clean": clean, "corrupted": torch.zeros(B, J, dtype=torch.bool)}


def borrow_into(obs: dict, batch: dict, bank: dict, fraction: float, g: torch.Generator, k: int = 16) -> dict:
    """`obs` with its last round(fraction * B) hands seen through borrowed errors instead."""
    B = batch["K"].shape[0]
    m = int(round(min(max(fraction, 0.0), 1.0) * B))
    if m == 0:
        return obs
    tail = {key: value[B - m:] for key, value in batch.items()}
    new = borrowed_observation(tail, bank, g, k)
    return {key: torch.cat([obs[key][:B - m], new[key].to(obs[key].dtype)]) for key in obs}


__all__ = ["borrow_into", "borrowed_observation", "error_bank", "hand_frames", "view_directions"]
