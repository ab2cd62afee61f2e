"""Estimator variants on the project's rendered clips, with cached MediaPipe detections.

    python -m training.evaluate_clips [--variants default,refine,...]

Detection runs once per clip and is cached (training/runs/cache/NAME.dets.pkl), so variants
of the estimator compare on identical detector output, as in `bench.accuracy` (whose metrics
this reuses). Prints one row per variant: mean over clips of hands found, CS-MJE, PA-MPJPE
and acceleration error (mm/frame^2, jitter).
"""
from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "training" / "runs" / "cache"
CLIPS = ("examples/hand_wave", "tests/data/videos/one_hand", "tests/data/videos/two_hands")


def cached_detections(stem: str):
    """The MediaPipe detections of ROOT/stem.mp4 (recorded once)."""
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.accuracy import record

    path = CACHE / (Path(stem).name + ".dets.pkl")
    if path.exists():
        return pickle.loads(path.read_bytes())
    dets = record(ROOT / (stem + ".mp4"))
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(dets))
    return dets


def evaluate(make_options, clips=CLIPS, detections=None) -> dict:
    """Mean metrics over clips of `track_input` with options `make_options(calib, hand_length_m)`."""
    import sys

    sys.path.insert(0, str(ROOT))
    from bench.accuracy import ReplayDetector, gt_hand_length, metrics

    from handmocap.track.pipeline import track_input

    rows = []
    for stem in clips:
        gt = np.load(ROOT / (stem + ".gt.npz"))
        dets = (detections or {}).get(stem) or cached_detections(stem)
        opts = make_options(ROOT / (stem + ".calib.json"), gt_hand_length(gt))
        motion = track_input(ROOT / (stem + ".mp4"), opts, detector=ReplayDetector(dets))
        rows.append(metrics([t.keypoints_cam for t in motion.tracks], motion, gt, with_mesh=False))
    keys = ("found", "cs_mje_mm", "pa_mpjpe_mm", "accel_mm")
    return {k: float(np.mean([r[k] for r in rows])) for k in keys} | {"per_clip_pa": [r["pa_mpjpe_mm"] for r in rows]}


def variants() -> dict:
    from handmocap.track.pipeline import TrackOptions

    base = TrackOptions()
    return {
        "default": lambda c, L: replace(base, intrinsics=c),
        "refine": lambda c, L: replace(base, intrinsics=c, refine=True),
        "no-smooth": lambda c, L: replace(base, intrinsics=c, smoothing=replace(base.smoothing, enabled=False)),
        "hand-length": lambda c, L: replace(base, intrinsics=c, hand_length_m=L),
        "fitting": lambda c, L: replace(base, intrinsics=c, estimator="fitting"),
        "refine+hand-length": lambda c, L: replace(base, intrinsics=c, refine=True, hand_length_m=L),
        "refine+no-smooth": lambda c, L: replace(base, intrinsics=c, refine=True,
                                                 smoothing=replace(base.smoothing, enabled=False)),
        "unknown-K": lambda c, L: replace(base, intrinsics=None),
        "refine+unknown-K": lambda c, L: replace(base, intrinsics=None, refine=True),
    }


def main(argv=None):
    import argparse
    import json

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--variants", default="default,refine")
    a = ap.parse_args(argv)
    table = variants()
    for name in a.variants.split(","):
        print(name, json.dumps(evaluate(table[name])), flush=True)


if __name__ == "__main__":
    main()
