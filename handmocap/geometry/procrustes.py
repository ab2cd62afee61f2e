"""Similarity Procrustes alignment (Umeyama 1991), batched torch.

Finds scale s, rotation R (det +1) and translation t minimising
sum_i w_i |s R p_i + t - q_i|^2; used by PA-MPJPE / PA-MPVPE (FreiHAND protocol).
"""
from __future__ import annotations

import torch

from ..errors import check_shape


def similarity_procrustes(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                          scale: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Best similarity transform taking `source` onto `target`.

    Args:
        source: (B, N, 3) points (any unit).
        target: (B, N, 3) points, same unit.
        weights: (B, N) >= 0 or None.
        scale: False for a rigid (s = 1) alignment.

    Returns:
        s (B,), R (B, 3, 3), t (B, 3) with aligned = s * source @ R^T + t.
    """
    check_shape("source", source, (None, None, 3))
    check_shape("target", target, tuple(source.shape))
    if weights is None:
        weights = torch.ones(source.shape[:2], dtype=source.dtype, device=source.device)
    w = (weights / weights.sum(-1, keepdim=True))[..., None]
    mu_p, mu_q = (w * source).sum(1), (w * target).sum(1)
    p, q = source - mu_p[:, None], target - mu_q[:, None]
    cov = (w * q).transpose(1, 2) @ p  # (B, 3, 3) = sum w q p^T
    U, S, Vh = torch.linalg.svd(cov)
    # reflection guard: flip the last singular direction when det(U V^T) < 0
    d = torch.sign(torch.linalg.det(U @ Vh))
    d = torch.where(d == 0, torch.ones_like(d), d)
    D = torch.ones_like(S)
    D = torch.cat([D[:, :2], d[:, None]], 1)
    R = U @ torch.diag_embed(D) @ Vh
    if scale:
        var_p = (w[..., 0] * (p * p).sum(-1)).sum(-1)
        s = (S * D).sum(-1) / var_p
    else:
        s = torch.ones_like(d)
    t = mu_q - s[:, None] * (mu_p[:, None] @ R.transpose(1, 2))[:, 0]
    return s, R, t


def procrustes_align(source: torch.Tensor, target: torch.Tensor, weights: torch.Tensor | None = None,
                     scale: bool = True) -> torch.Tensor:
    """`source` (B, N, 3) aligned onto `target` (B, N, 3) by `similarity_procrustes`."""
    s, R, t = similarity_procrustes(source, target, weights, scale)
    return s[:, None, None] * source @ R.transpose(1, 2) + t[:, None]


__all__ = ["procrustes_align", "similarity_procrustes"]
