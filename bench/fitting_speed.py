"""Fitting speed: frames per second of `fit_track` for batch sizes and iteration counts.

    python -m bench.fitting_speed [--device cuda] [--frames 256]

Synthetic detections of a moving right hand (the real hand model), known intrinsics.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from handmocap.camera.pinhole import project
from handmocap.hand import HandModel
from handmocap.solve.detector_offsets import detector_keypoints
from handmocap.solve.fitting import FitOptions, fit_track


def detections(T: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    hand = HandModel(dtype=torch.float64)
    t = torch.linspace(0, 1, T, dtype=torch.float64)[:, None]
    pose = torch.zeros(T, 45, dtype=torch.float64)
    pose[:, 2:36:3] = 0.6 * (1 - torch.cos(6.28 * t))
    go = torch.tensor([[0.3, -0.4, 1.5]], dtype=torch.float64) + 0.3 * torch.sin(6.28 * t)
    out = hand(global_orient=go, hand_pose=pose, betas=torch.zeros(T, 10, dtype=torch.float64))
    kp = out.keypoints - out.keypoints.mean(1, keepdim=True) + torch.tensor([0.05, 0.0, 0.5], dtype=torch.float64)
    K = torch.tensor([[600.0, 0, 319.5], [0, 600, 239.5], [0, 0, 1]], dtype=torch.float64)
    lm = detector_keypoints(kp)
    px = project(lm, K) + 2 * torch.randn(T, 21, 2, generator=g, dtype=torch.float64)
    rel = lm - lm.mean(1, keepdim=True) + 0.003 * torch.randn(T, 21, 3, generator=g, dtype=torch.float64)
    return px.numpy(), rel.numpy(), np.ones((T, 21)), K.numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--frames", type=int, default=256)
    ap.add_argument("--batch-sizes", default="32,128,256")
    ap.add_argument("--iterations", default="50,100")
    ap.add_argument("--no-limits", action="store_true", help="without the joint-limit prior")
    args = ap.parse_args()
    px, rel, scores, K = detections(args.frames)
    hand = HandModel()
    opts = FitOptions(w_limits=0.0) if args.no_limits else FitOptions()
    fit_track(px[:8], rel[:8], scores[:8], K, "right", hand, iterations=2, device=args.device)  # warm-up
    print(f"device {args.device}, {args.frames} frames, torch threads {torch.get_num_threads()}")
    print("batch  iterations  seconds  frames/s  reprojection_px")
    for b in map(int, args.batch_sizes.split(",")):
        for it in map(int, args.iterations.split(",")):
            t0 = time.perf_counter()
            fit = fit_track(px, rel, scores, K, "right", hand, iterations=it, batch_size=b,
                            device=args.device, options=opts)
            dt = time.perf_counter() - t0
            print(f"{b:5d}  {it:10d}  {dt:7.2f}  {args.frames / dt:8.1f}  {float(np.mean(fit.reprojection_px)):6.2f}")


if __name__ == "__main__":
    main()
