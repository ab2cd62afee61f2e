"""Accuracy of the tracker's variants on rendered clips with exact ground truth.

Detection runs once per clip; every variant reuses the same detections (a replaying
detector), so the table compares estimators, not detector luck.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from handmocap.geometry.metrics import auc, pa_mpjpe
from handmocap.track.pipeline import TrackOptions, track_input

CLIPS = ("examples/hand_wave", "tests/data/videos/one_hand", "tests/data/videos/two_hands")


class ReplayDetector:
    """Returns recorded detections by frame index (a HandDetector)."""

    def __init__(self, detections):
        self.by_index = {d.index: d for d in detections}

    def detect(self, frame):
        return self.by_index[frame.index]

    def close(self):
        pass


def record(video: Path):
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector
    from handmocap.video import open_frames

    with MediaPipeHandDetector() as det:
        return [det.detect(f) for f in open_frames(video)]


def detector_dgp(motion, K):
    """Baseline: the detector's metric keypoints placed by DGP (no hand model)."""
    from handmocap.solve.dgp import solve_translation

    out = []
    for t in motion.tracks:
        px = torch.as_tensor(t.keypoints_px, dtype=torch.float64)
        rel = torch.as_tensor(t.keypoints_rel, dtype=torch.float64)
        res = solve_translation(px, rel, torch.ones(px.shape[:2], dtype=torch.float64), torch.as_tensor(K))
        out.append((rel + res.transl[:, None]).numpy())
    return out


def metrics(pred_tracks, motion, gt) -> dict:
    """CS-MJE, PA-MPJPE, AUC(0-50 mm), 2D px error, jitter and detection rate over GT hands."""
    K = gt["K"]
    cs, pa, px2d, accel, found = [], [], [], [], []
    for h in range(int(gt["num_hands"])):
        side = str(gt[f"hand{h}_side"])
        cands = [(t, p) for t, p in zip(motion.tracks, pred_tracks) if t.side == side]
        visible = np.flatnonzero(gt[f"hand{h}_visible"])
        if not cands:
            found.append(0.0)
            continue
        t, pred = max(cands, key=lambda c: len(c[0]))
        kp = gt[f"hand{h}_keypoints_cam"][t.frame_index]
        err = np.linalg.norm(pred - kp, axis=-1)
        cs.append(err)
        pa.append(np.asarray(pa_mpjpe(pred, kp)))
        proj = pred @ K.T
        px2d.append(np.linalg.norm(proj[..., :2] / proj[..., 2:] - gt[f"hand{h}_keypoints_px"][t.frame_index], axis=-1))
        if len(pred) >= 3:
            a_pred = pred[2:] - 2 * pred[1:-1] + pred[:-2]
            a_gt = kp[2:] - 2 * kp[1:-1] + kp[:-2]
            accel.append(np.linalg.norm(a_pred - a_gt, axis=-1))
        found.append(np.isin(visible, t.frame_index[t.detected]).mean())
    cs_all = np.concatenate([e.reshape(-1) for e in cs]) if cs else np.array([np.nan])
    return {
        "found": float(np.mean(found)), "cs_mje_mm": 1000 * float(cs_all.mean()),
        "pa_mpjpe_mm": 1000 * float(np.mean(np.concatenate(pa))) if pa else np.nan,
        "auc": float(auc(cs_all, 0.0, 0.05)), "px": float(np.mean(np.concatenate([p.reshape(-1) for p in px2d]))),
        "accel_mm": 1000 * float(np.mean(np.concatenate([a.reshape(-1) for a in accel]))) if accel else np.nan,
        "cs_errors": cs_all,
    }


def variants(have_model: bool):
    base = TrackOptions(estimator="fitting")
    v = {
        "fitting, known K": lambda calib, L: replace(base, intrinsics=calib),
        "fitting, unknown K": lambda calib, L: replace(base, intrinsics=None),
        "fitting, known K + hand length": lambda calib, L: replace(base, intrinsics=calib, hand_length_m=L),
        "fitting, known K, no filter": lambda calib, L: replace(base, intrinsics=calib, smoothing=replace(base.smoothing, enabled=False)),
    }
    if have_model:
        v["model (default), known K"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model")
        v["model, known K + hand length"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model", hand_length_m=L)
        v["model + refine, known K"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model", refine=True)
        v["model, unknown K"] = lambda calib, L: replace(base, intrinsics=None, estimator="model")
    return v


def gt_hand_length(gt) -> float:
    from handmocap.hand import HandModel

    betas = torch.as_tensor(gt["hand0_betas"], dtype=torch.float64)[None]
    kp = HandModel(dtype=torch.float64)(betas=betas).keypoints[0].numpy()
    return float(np.linalg.norm(kp[12] - kp[0]))


def run(clips=CLIPS, quick: bool = False) -> dict:
    """{variant: metrics over all clips}."""
    import importlib.util

    have_model = importlib.util.find_spec("handmocap.nn.estimator") is not None and \
        Path("handmocap/nn/weights/keypoint_model.pt").exists()
    results: dict[str, list] = {}
    for stem in clips:
        video, calib = Path(stem + ".mp4"), Path(stem + ".calib.json")
        if not video.exists():
            continue
        gt = np.load(stem + ".gt.npz")
        dets = record(video)
        L = gt_hand_length(gt)
        for name, make in variants(have_model).items():
            if quick and "no filter" in name:
                continue
            motion = track_input(video, make(calib, L), detector=ReplayDetector(dets))
            results.setdefault(name, []).append(metrics([t.keypoints_cam for t in motion.tracks], motion, gt))
        motion = track_input(video, TrackOptions(intrinsics=calib, smoothing=replace(TrackOptions().smoothing, enabled=False)),
                             detector=ReplayDetector(dets))
        results.setdefault("detector metric keypoints + DGP, known K", []).append(
            metrics(detector_dgp(motion, gt["K"]), motion, gt))
        if quick:
            break
    return results


def summary_table(results: dict) -> str:
    rows = ["| variant | hands found | CS-MJE (mm) | PA-MPJPE (mm) | AUC 0-50 mm | 2D error (px) | accel. error (mm/frame²) |",
            "|---|---:|---:|---:|---:|---:|---:|"]
    for name, per_clip in results.items():
        m = {k: np.mean([c[k] for c in per_clip]) for k in ("found", "cs_mje_mm", "pa_mpjpe_mm", "auc", "px", "accel_mm")}
        rows.append(f"| {name} | {100 * m['found']:.0f}% | {m['cs_mje_mm']:.1f} | {m['pa_mpjpe_mm']:.1f} | "
                    f"{m['auc']:.3f} | {m['px']:.1f} | {m['accel_mm']:.2f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(summary_table(run()))
