"""Losses of Boukhayma et al. 2019 and HandDGP 2024.

Boukhayma:  L2D (eq. 6, L1 on 2D keypoints), L3D (eq. 7, 3D keypoints), the hand-mask loss
(eq. 8: projected vertices should fall inside the hand mask) and the parameter regulariser
(eq. 9: |beta|^2 + w |theta|^2). HandDGP: camera-space keypoint loss, translation RMSE,
keypoint consistency between the 2D decoder and the projected 3D keypoints, 2D vertex L1.
With synthetic ground truth we also supervise the parameters directly (Boukhayma sec. 6
pre-trains on synthetic data with parameter supervision).

Metric losses are in centimetres (metres x 100) so that all terms are O(1); 2D losses are
divided by the hand's 2D size (normalised, resolution-free). Letters: B batch, J=21, V vertices.
"""
from __future__ import annotations

import torch
from torch.nn import functional as F

CM = 100.0


def l2d(pred_uv: torch.Tensor, gt_uv: torch.Tensor, size: torch.Tensor, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Boukhayma eq. 6 (L1). pred_uv, gt_uv: (B, J, 2) any 2D unit; size: (B,) same unit
    (hand extent, normalises the error); weights: (B, J) or None -> scalar."""
    e = (pred_uv - gt_uv).abs().sum(-1) / size[:, None]
    if weights is None:
        return e.mean()
    return (weights * e).sum() / weights.sum().clamp_min(1e-9)


def l3d(pred: torch.Tensor, gt: torch.Tensor, root: int | None = 0) -> torch.Tensor:
    """Boukhayma eq. 7 on root-relative keypoints (root=None: absolute, i.e. HandDGP's
    camera-space keypoint loss). pred, gt: (B, J, 3) metres -> mean Euclidean error, cm."""
    if root is not None:
        pred = pred - pred[:, root:root + 1]
        gt = gt - gt[:, root:root + 1]
    return CM * (pred - gt).norm(dim=-1).mean()


def translation_rmse(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """HandDGP's translation loss: sqrt(mean |t_pred - t_gt|^2), pred, gt (B, 3) metres -> cm."""
    return CM * ((pred - gt) ** 2).sum(-1).mean().clamp_min(1e-12).sqrt()


def keypoint_consistency(decoded_uv: torch.Tensor, projected_uv: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """HandDGP: the 2D decoder's keypoints and the projected 3D keypoints agree (L1, (B, J, 2),
    normalised by size (B,))."""
    return l2d(projected_uv, decoded_uv, size)


def vertex_l1_2d(pred_uv: torch.Tensor, gt_uv: torch.Tensor, size: torch.Tensor) -> torch.Tensor:
    """HandDGP's 2D vertex loss: (B, V, 2) projected vertices vs ground truth, L1 / size."""
    return l2d(pred_uv, gt_uv, size)


def hand_mask_loss(vertices_px: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Boukhayma eq. 8: sum over projected vertices of (1 - M(x_v)), M the hand mask sampled
    bilinearly at each vertex. vertices_px: (B, V, 2) pixels of the mask image; mask: (B, H, W)
    in [0, 1] -> mean over vertices (vertices outside the image count as outside the mask)."""
    B, H, W = mask.shape
    grid = torch.stack([(vertices_px[..., 0] + 0.5) / W * 2 - 1, (vertices_px[..., 1] + 0.5) / H * 2 - 1], -1)
    m = F.grid_sample(mask[:, None].to(vertices_px.dtype), grid[:, :, None], mode="bilinear",
                      padding_mode="zeros", align_corners=False)[:, 0, :, 0]
    return (1 - m).mean()


def parameter_regulariser(betas: torch.Tensor, local_rotations: torch.Tensor, w_pose: float = 0.1) -> torch.Tensor:
    """Boukhayma eq. 9: |beta|^2 + w_pose |theta|^2, with |theta|^2 measured on rotation matrices
    (|R - I|_F^2 / 2 ~ angle^2 for small angles). betas (B, S), local_rotations (B, 15, 3, 3)."""
    eye = torch.eye(3, dtype=local_rotations.dtype, device=local_rotations.device)
    theta2 = ((local_rotations - eye) ** 2).sum((-1, -2)).sum(-1) / 2
    return (betas ** 2).sum(-1).mean() + w_pose * theta2.mean()


def rotation_loss(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """Parameter supervision on rotations: mean squared Frobenius distance, (B, K, 3, 3)."""
    return ((pred - gt) ** 2).sum((-1, -2)).mean()


def keypoint_model_losses(pred, scenes: dict, mode: str, weights: dict) -> dict:
    """All losses of the keypoint model for one batch.

    Args:
        pred: `handmocap.nn.keypoint_model.Prediction` (virtual-camera quantities).
        scenes: ground truth batch (`training.synthetic.make_scenes` keys).
        mode: "dgp" / "root" / "weak": camera-space losses through that translation;
            "rootrel": root-relative only (the translation is solved after the fact).
        weights: loss name -> weight (missing: 0).

    Returns:
        dict of scalar tensors, "total" included.
    """
    ci = pred.canonical
    R = ci.R
    gt_kp = scenes["keypoints_cam"] @ R.transpose(-1, -2)
    gt_lm = scenes["landmarks_cam"] @ R.transpose(-1, -2)
    gt_uv = gt_lm[..., :2] / gt_lm[..., 2:]
    gt_rot = scenes["rotations"].clone()
    gt_rot[:, 0] = R @ gt_rot[:, 0]
    # detector pairs (training.pairs) have keypoints but no hand-model parameters
    has = scenes.get("has_params")
    if has is None or bool(has.all()):
        rot, beta = rotation_loss(pred.rotations_v, gt_rot), ((pred.betas - scenes["betas"]) ** 2).mean()
    elif bool(has.any()):
        rot = rotation_loss(pred.rotations_v[has], gt_rot[has])
        beta = ((pred.betas[has] - scenes["betas"][has]) ** 2).mean()
    else:
        rot = beta = pred.betas.sum() * 0
    out = {
        "rel3d": l3d(pred.keypoints_v, gt_kp, root=0),
        "rot": rot,
        "betas": beta,
        "reg": parameter_regulariser(pred.betas, pred.rotations_v[:, 1:]),
        "weak2d": l2d(pred.weak_uv, gt_uv, ci.size2d),
    }
    if mode != "rootrel":
        transl = pred.transl_v
        ok = pred.valid & torch.isfinite(transl).all(-1)
        transl = torch.where(ok[:, None], transl, torch.zeros_like(transl))  # DGP keeps values finite
        cam = pred.keypoints_v + transl[:, None]
        err = (cam - gt_kp).norm(dim=-1).mean(-1)  # (B,) metres
        okf = ok.to(err.dtype)
        # clip hopeless hands (early training) so one bad DGP solve cannot dominate a batch
        out["cs3d"] = CM * (okf * err.clamp_max(0.5)).sum() / okf.sum().clamp_min(1)
        out["transl"] = translation_rmse(cam[ok][:, 0], gt_kp[ok][:, 0]) if bool(ok.any()) else cam.sum() * 0
        lm_cam = pred.landmarks_v + transl[:, None]
        uv = lm_cam[..., :2] / lm_cam[..., 2:].clamp_min(1e-3)
        e2 = ((uv - gt_uv).abs().sum(-1) / ci.size2d[:, None]).mean(-1).clamp_max(2.0)
        out["cs2d"] = (okf * e2).sum() / okf.sum().clamp_min(1)
    total = sum(weights.get(k, 0.0) * v for k, v in out.items())
    out["total"] = total
    return out


__all__ = ["hand_mask_loss", "keypoint_consistency", "keypoint_model_losses", "l2d", "l3d", "parameter_regulariser",
           "rotation_loss", "translation_rmse", "vertex_l1_2d"]
