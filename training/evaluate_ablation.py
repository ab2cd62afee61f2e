"""Keypoint-model checkpoints side by side: the people set's test stills per view, the
project's own rendered clips and the exact-keypoint floor (the model card's ablation).

    python -m training.evaluate_ablation v1=training/runs/keypoint_model_v1.pt both=training/runs/x/best.pt \
        [--json out/ablation.json] [--no-clips] [--no-exact]

Stills: the estimator alone on the test split's cached MediaPipe detections
(`bench.eval_set.rows_from_detections`: the detector's label picks the side), without and
with the true hand length. Clips: `training.evaluate_clips` (default options) with the
checkpoint in place of the shipped weights. Exact: `training.evaluate_exact`.
"""
from __future__ import annotations

import argparse
import json
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEST = ROOT / "datasets" / "handeval" / "test"


@contextmanager
def shipped_weights(path):
    """The tracker's default estimator reads `path` instead of the shipped weights."""
    import handmocap.nn.estimator as est

    old = est.default_weights_path
    est.default_weights_path = lambda: Path(path)
    try:
        yield
    finally:
        est.default_weights_path = old


def stills(path, split: Path = TEST) -> dict:
    """Per view (and 'all'): found, CS-MJE, PA-MPJPE, depth, each also with the true length (mm)."""
    import numpy as np

    from bench.eval_set import rows_from_detections, summarise

    d = dict(np.load(split / "detections.npz"))
    return summarise(rows_from_detections(d, weights_path=str(path)))


def clips(path) -> dict:
    from dataclasses import replace

    from handmocap.track.pipeline import TrackOptions

    from .evaluate_clips import evaluate

    with shipped_weights(path):
        return evaluate(lambda c, L: replace(TrackOptions(), intrinsics=c))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoints", nargs="+", help="NAME=PATH")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--no-clips", action="store_true")
    ap.add_argument("--no-exact", action="store_true")
    ap.add_argument("--no-stills", action="store_true", help="skip the test stills (while choosing a recipe)")
    a = ap.parse_args(argv)
    import torch

    from .evaluate_exact import run as exact

    torch.set_num_threads(1)
    out = {}
    for item in a.checkpoints:
        name, path = item.split("=", 1)
        res = {"path": path}
        if not a.no_stills:
            res["stills"] = stills(path)
        if not a.no_clips:
            res["clips"] = clips(path)
        if not a.no_exact:
            res["exact"] = exact(path, 2000)
        out[name] = res
        s = res.get("stills")
        views = " ".join(f"{v[:4]} {s[v]['pa_mpjpe']:.2f}" for v in s) if s else ""
        print(f"{name}: " + (f"stills PA {views} | CS {s['all']['cs_mje']:.1f} CS_L {s['all']['cs_mje_L']:.1f}" if s else "")
              + (f" | clips PA {res['clips']['pa_mpjpe_mm']:.2f} CS {res['clips']['cs_mje_mm']:.1f}" if "clips" in res else "")
              + (f" | exact {res['exact']['model_pa_mpjpe_mm']:.2f}" if "exact" in res else ""), flush=True)
        if a.json:
            a.json.parent.mkdir(parents=True, exist_ok=True)
            a.json.write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
