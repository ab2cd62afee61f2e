"""Accuracy of the tracker's variants on rendered clips with exact ground truth.

Detection runs once per clip; every variant reuses the same detections (a replaying
detector), so the table compares estimators, not detector luck.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from handmocap.geometry.metrics import auc, f_score, pa_mpjpe, pa_mpvpe
from handmocap.hand import HandModel
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


def _vertices(side, global_orient, hand_pose, betas, transl) -> np.ndarray:
    """(T, V, 3) camera-space vertices of the open hand for per-frame parameters."""
    hand = HandModel(side=side)
    T = len(global_orient)
    with torch.no_grad():
        return hand(global_orient=global_orient, hand_pose=hand_pose, transl=transl,
                    betas=np.repeat(np.asarray(betas, dtype=np.float32).reshape(1, -1), T, 0)
                    ).vertices.numpy()


def mesh_metrics(track, gt, h) -> dict:
    """CS-MVE, PA-MPVPE and F@5/F@15 mm of a tracked hand's mesh against the GT mesh."""
    rows = track.frame_index
    want = _vertices(str(gt[f"hand{h}_side"]), gt[f"hand{h}_global_orient"][rows], gt[f"hand{h}_hand_pose"][rows],
                     gt[f"hand{h}_betas"], gt[f"hand{h}_transl"][rows])
    got = _vertices(track.side, track.global_orient, track.hand_pose, track.betas, track.transl)
    return {"cs_mve": np.linalg.norm(got - want, axis=-1).mean(), "pa_mpvpe": float(np.mean(pa_mpvpe(got, want))),
            "f5": float(np.mean(f_score(got, want, 0.005))), "f15": float(np.mean(f_score(got, want, 0.015)))}


def metrics(pred_tracks, motion, gt, with_mesh: bool = True) -> dict:
    """CS-MJE, PA-MPJPE, AUC(0-50 mm), 2D px error, jitter and detection rate over GT hands,
    and (with_mesh) CS-MVE, PA-MPVPE, F@5/F@15 mm."""
    K = gt["K"]
    cs, pa, px2d, accel, found, mesh = [], [], [], [], [], []
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
        if with_mesh:
            mesh.append(mesh_metrics(t, gt, h))
    cs_all = np.concatenate([e.reshape(-1) for e in cs]) if cs else np.array([np.nan])
    return {
        "found": float(np.mean(found)), "cs_mje_mm": 1000 * float(cs_all.mean()),
        "pa_mpjpe_mm": 1000 * float(np.mean(np.concatenate(pa))) if pa else np.nan,
        "auc": float(auc(cs_all, 0.0, 0.05)), "px": float(np.mean(np.concatenate([p.reshape(-1) for p in px2d]))),
        "accel_mm": 1000 * float(np.mean(np.concatenate([a.reshape(-1) for a in accel]))) if accel else np.nan,
        "cs_errors": cs_all,
        **{k: float(np.mean([m[k] for m in mesh])) if mesh else np.nan for k in ("cs_mve", "pa_mpvpe", "f5", "f15")},
    }


def variants(have_model: bool):
    base = TrackOptions(estimator="fitting")
    v = {
        "fitting, known K": lambda calib, L: replace(base, intrinsics=calib),
        "fitting, unknown K": lambda calib, L: replace(base, intrinsics=None, camera_files=False),
        "fitting, known K + hand length": lambda calib, L: replace(base, intrinsics=calib, hand_length_m=L),
        "fitting, known K, no filter": lambda calib, L: replace(base, intrinsics=calib, smoothing=replace(base.smoothing, enabled=False)),
    }
    if have_model:
        v["model (default), known K"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model")
        v["model, known K + hand length"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model", hand_length_m=L)
        v["model + refine, known K"] = lambda calib, L: replace(base, intrinsics=calib, estimator="model", refine=True)
        v["model, unknown K"] = lambda calib, L: replace(base, intrinsics=None, camera_files=False, estimator="model")
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
            metrics(detector_dgp(motion, gt["K"]), motion, gt, with_mesh=False))
        if quick:
            break
    return results


def summary_table(results: dict) -> str:
    """Markdown table of every variant's mean metrics over the clips ("-": no mesh)."""
    cols = [("hands found", "found", "{:.0%}", 1), ("CS-MJE (mm)", "cs_mje_mm", "{:.1f}", 1),
            ("CS-MVE (mm)", "cs_mve", "{:.1f}", 1000), ("PA-MPJPE (mm)", "pa_mpjpe_mm", "{:.1f}", 1),
            ("PA-MPVPE (mm)", "pa_mpvpe", "{:.1f}", 1000), ("F@5 mm", "f5", "{:.3f}", 1),
            ("F@15 mm", "f15", "{:.3f}", 1), ("AUC 0-50 mm", "auc", "{:.3f}", 1), ("2D error (px)", "px", "{:.1f}", 1),
            ("accel. error (mm/frame²)", "accel_mm", "{:.2f}", 1)]
    rows = ["| variant | " + " | ".join(c[0] for c in cols) + " |", "|---|" + "---:|" * len(cols)]
    for name, per_clip in results.items():
        cells = []
        for _, key, fmt, scale in cols:
            v = float(np.mean([c[key] for c in per_clip]))
            cells.append(fmt.format(v * scale) if np.isfinite(v) else "-")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


def exact_keypoints(quick: bool = False) -> dict:
    """Issue 10's good-input figure: PA-MPJPE (mm) on held-out synthetic hands seen by a
    perfect detector in MediaPipe's definition (`training.evaluate_exact`)."""
    from training.evaluate_exact import run as exact

    return exact(n=300 if quick else 2000, refine=True, default_n=30 if quick else 100)


def exact_table(res: dict) -> str:
    return "\n".join([
        "| estimate, exact keypoints (held-out poses and shapes) | hands | PA-MPJPE (mm) |", "|---|---:|---:|",
        f"| network alone | {res['hands']} | {res['model_pa_mpjpe_mm']:.2f} |",
        f"| default estimator (input whose 3D agrees with its 2D is refined) | {res['default_hands']} | "
        f"**{res['default_pa_mpjpe_mm']:.2f}** |",
        f"| `--refine` (every frame refined) | {res['hands']} | {res['refined_pa_mpjpe_mm']:.2f} |"])


if __name__ == "__main__":
    print(summary_table(run()))
    print(exact_table(exact_keypoints()))
    from bench import eval_set  # the people evaluation set: per view, stills and clips

    eval_set.main([])
