"""What time could still give the fingers on people clips (issue 10, item 6): measured before
building a learned windowed estimator.

Each people TRAIN clip (`training.tune_smoothing.clips`, detections replayed; never the test
split) is tracked once with the default smoothing and once without. On each main track it
reports the per-frame PA-MPJPE (mean), how alike neighbouring frames' errors are (correlation
of the error series at 1 and 5 frames apart), and the PA-MPJPE after centred temporal filters
(median and mean over 5, 9 and 15 frames) of the root-relative keypoints. A filter that sees
the future frames too is as much as a windowed estimator trained on frame-to-frame noise can
learn; if it does not lower the error, that noise is not what is left.

    python -m training.temporal_headroom
"""
from __future__ import annotations

import os

import numpy as np

WINDOWS = (5, 9, 15)


def filtered_errors(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """PA-MPJPE (mm) of `pred` (T, J, 3) against `gt` (T, J, 3) after each centred filter of
    its root-relative keypoints: {"median5": ..., "mean5": ..., ...}."""
    from scipy.ndimage import median_filter, uniform_filter1d

    from handmocap.geometry.metrics import pa_mpjpe

    rel = pred - pred[:, :1]
    out = {}
    for w in WINDOWS:
        for name, smooth in (("median", median_filter(rel, size=(w, 1, 1), mode="nearest")),
                             ("mean", uniform_filter1d(rel, w, axis=0, mode="nearest"))):
            out[f"{name}{w}"] = 1000 * float(np.asarray(pa_mpjpe(smooth, gt)).mean())
    return out


def main() -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    from bench.accuracy import ReplayDetector, record
    from handmocap.geometry.metrics import pa_mpjpe
    from handmocap.track.pipeline import FilterOptions, TrackOptions, track_input

    from .tune_smoothing import clips

    rows = []
    for label, video, calib, gt_path in clips():
        if not label.startswith("people/"):
            continue
        gt, dets = dict(np.load(gt_path)), record(video)
        for smoothed in (True, False):
            options = TrackOptions(intrinsics=calib, smoothing=FilterOptions(enabled=smoothed))
            motion = track_input(video, options, detector=ReplayDetector(dets))
            for h in range(int(gt["num_hands"])):
                tracks = [t for t in motion.tracks if t.side == str(gt[f"hand{h}_side"])]
                if not tracks:
                    continue
                t = max(tracks, key=len)
                kp = gt[f"hand{h}_keypoints_cam"][t.frame_index]
                err = 1000 * np.asarray(pa_mpjpe(t.keypoints_cam, kp))
                rows.append({"clip": f"{label[7:]}/{t.side}", "smoothed": smoothed, "pa": float(err.mean()),
                             "corr1": float(np.corrcoef(err[:-1], err[1:])[0, 1]),
                             "corr5": float(np.corrcoef(err[:-5], err[5:])[0, 1]),
                             **filtered_errors(t.keypoints_cam, kp)})
    keys = [f"{n}{w}" for w in WINDOWS for n in ("median", "mean")]
    print("| clip / hand | smoothing | PA-MPJPE | error corr. 1 / 5 frames apart | " + " | ".join(keys) + " |")
    print("|---|---|---:|---:|" + "---:|" * len(keys))
    for smoothed in (True, False):
        sel = [r for r in rows if r["smoothed"] == smoothed]
        for r in sel:
            print(f"| {r['clip']} | {'default' if smoothed else 'none'} | {r['pa']:.2f} | {r['corr1']:.2f} / "
                  f"{r['corr5']:.2f} | " + " | ".join(f"{r[k]:.2f}" for k in keys) + " |")
        print(f"| **mean** | {'default' if smoothed else 'none'} | **{np.mean([r['pa'] for r in sel]):.2f}** | "
              f"{np.mean([r['corr1'] for r in sel]):.2f} / {np.mean([r['corr5'] for r in sel]):.2f} | "
              + " | ".join(f"{np.mean([r[k] for r in sel]):.2f}" for k in keys) + " |")


if __name__ == "__main__":
    main()
