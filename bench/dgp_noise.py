"""DGP (HandDGP eq. 7, algebraic DLT) against the nonlinear pixel-reprojection optimum
(scipy.optimize.least_squares over t) for growing 2D noise, on real-model hands with random
pose, shape, orientation, intrinsics (fov 35-100 deg) and placement (0.2-1.5 m, anywhere in
view); then the time to solve 10,000 hands in one call. Prints markdown tables.

    python -m bench.dgp_noise [--hands 200] [--noise 0 0.5 1 2 4 8]
"""
from __future__ import annotations

import argparse
import math
import platform
import time

import numpy as np
import torch
from scipy.optimize import least_squares

from handmocap.camera.pinhole import intrinsics_matrix, project
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel
from handmocap.solve.dgp import refine_translation, solve_translation


def _rotations(n, g):
    axis = torch.randn(n, 3, generator=g, dtype=torch.float64)
    return axis / axis.norm(dim=-1, keepdim=True) * math.pi * torch.rand(n, 1, generator=g, dtype=torch.float64)


def synthetic_hands(n: int, seed: int = 0, placements: int = 1):
    """keypoints_px (B, 21, 2), keypoints_rel (B, 21, 3) wrist-relative, t (B, 3), K (B, 3, 3)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        out = HandModel(dtype=torch.float64)(
            global_orient=_rotations(n, g), hand_pose=0.3 * torch.randn(n, 45, generator=g, dtype=torch.float64),
            betas=torch.randn(n, 10, generator=g, dtype=torch.float64))
    rel = out.keypoints - out.keypoints[:, :1]
    if placements > 1:
        rel = rel.repeat(placements, 1, 1) @ axis_angle_to_matrix(_rotations(n * placements, g)).transpose(1, 2)
    B = len(rel)
    W = torch.tensor([640.0, 1280.0, 1920.0], dtype=torch.float64)[torch.randint(0, 3, (B,), generator=g)]
    H = W * 9 / 16
    f = 0.5 * W / torch.tan(torch.deg2rad(35 + 65 * torch.rand(B, generator=g, dtype=torch.float64)) / 2)
    cx, cy = (W - 1) / 2, (H - 1) / 2
    K = intrinsics_matrix(f, f, cx, cy)
    uv = torch.stack([W, H], -1) * (0.02 + 0.96 * torch.rand(B, 2, generator=g, dtype=torch.float64))
    depth = torch.maximum(0.2 + 1.3 * torch.rand(B, generator=g, dtype=torch.float64), 0.05 - rel[..., 2].amin(-1))
    t = torch.cat([(uv - torch.stack([cx, cy], -1)) / f[:, None], torch.ones(B, 1, dtype=torch.float64)], 1) * depth[:, None]
    return project(rel + t[:, None], K), rel, t, K


def reference_solve(px, rel, w, K, t0):
    """argmin_t sum w_i^2 |project(rel_i + t) - px_i|^2 by scipy (Levenberg-Marquardt)."""
    def resid(t):
        p = (rel + t) @ K.T
        return (w[:, None] * (p[:, :2] / p[:, 2:] - px)).ravel()
    return least_squares(resid, t0, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15).x


def noise_table(n_hands: int, noise_levels, seed: int = 0) -> str:
    px, rel, t, K = synthetic_hands(n_hands, seed)
    g = torch.Generator().manual_seed(seed + 1)
    lines = ["| 2D noise (px) | DLT err to truth (mm, median / p95) | reprojection optimum err (mm) "
             "| DLT - optimum gap (mm, median / p95 / max) | DLT+10 LM - optimum gap (mm, max) "
             "| DLT depth bias (mm, mean) |",
             "|---|---|---|---|---|---|"]
    for sigma in noise_levels:
        noisy = px + sigma * torch.randn(px.shape, generator=g, dtype=torch.float64)
        w = 0.3 + 0.7 * torch.rand(px.shape[:2], generator=g, dtype=torch.float64)
        dlt = solve_translation(noisy, rel, w, K)
        gn = refine_translation(dlt.transl, noisy, rel, w, K, iterations=10)
        ref = torch.tensor(np.stack([reference_solve(noisy[i].numpy(), rel[i].numpy(), w[i].numpy(), K[i].numpy(),
                                                     dlt.transl[i].numpy()) for i in range(n_hands)]))
        mm = lambda x: 1e3 * x  # noqa: E731
        e_dlt = (dlt.transl - t).norm(dim=-1)
        e_ref = (ref - t).norm(dim=-1)
        gap = (dlt.transl - ref).norm(dim=-1)
        gap_gn = (gn.transl - ref).norm(dim=-1)
        bias = (dlt.transl[:, 2] - t[:, 2]).mean()
        q = lambda x, p: torch.quantile(x, p).item()  # noqa: E731
        lines.append(f"| {sigma:g} | {mm(e_dlt.median()):.3f} / {mm(q(e_dlt, 0.95)):.3f} | "
                     f"{mm(e_ref.median()):.3f} / {mm(q(e_ref, 0.95)):.3f} | "
                     f"{mm(gap.median()):.4f} / {mm(q(gap, 0.95)):.4f} / {mm(gap.max()):.4f} | "
                     f"{mm(gap_gn.max()):.2e} | {mm(bias):+.3f} |")
    return "\n".join(lines)


def timing_table(repeats: int = 5) -> str:
    px, rel, t, K = synthetic_hands(100, seed=3, placements=100)
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    lines = ["| device | dtype | solve | 10,000 hands (ms, median) | max error (m) |", "|---|---|---|---|---|"]
    for dev in devices:
        for dtype in (torch.float32, torch.float64):
            a, b, k, tt = (x.to(dev, dtype) for x in (px, rel, K, t))
            for name, fn in (("DLT", lambda: solve_translation(a, b, None, k)),
                             ("DLT + 5 LM", lambda: solve_translation(a, b, None, k, refine_iters=5))):
                fn()
                times = []
                for _ in range(repeats):
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    start = time.perf_counter()
                    res = fn()
                    if dev == "cuda":
                        torch.cuda.synchronize()
                    times.append(time.perf_counter() - start)
                err = (res.transl - tt).norm(dim=-1).max().item()
                lines.append(f"| {dev} | {str(dtype).replace('torch.', '')} | {name} | "
                             f"{1e3 * float(np.median(times)):.1f} | {err:.1e} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hands", type=int, default=200)
    ap.add_argument("--noise", type=float, nargs="+", default=[0, 0.5, 1, 2, 4, 8])
    args = ap.parse_args(argv)
    print(f"# DGP vs reprojection optimum ({args.hands} hands, weights U(0.3, 1); torch {torch.__version__}, "
          f"{platform.processor() or platform.machine()})\n")
    print(noise_table(args.hands, args.noise))
    print("\n# Batched solve, 10,000 hands in one call\n")
    print(timing_table())


if __name__ == "__main__":
    main()
