"""What each retry view adds to single-image recall and what it costs, on cached TRAIN views.

Reads the views cache of `training.still_views` (MediaPipe on every view of each rendered
still, mapped back) and replays `detect_still` for several retry orders and evidence views:
target hand found (per view of the camera), extra detections (merged hands matching no GT
hand), detector calls and detection milliseconds per image (the cached times).

    python -m bench.still_recall out/views_train.npz
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from bench.eval_set import VIEWS

CONFIGS = {
    "plain": ((), ()),
    "flip retry": (("flip",), ()),
    "rot90, rot270 retry": (("rot90", "rot270"), ()),
    "rot180 retry": (("rot180",), ()),
    "pad retry": (("pad",), ()),
    "tiles retry": (("tiles",), ()),
    "low-threshold retry": (("low",), ()),
    "flip evidence": ((), ("flip",)),
    "flip, rot90, rot270 evidence": ((), ("flip", "rot90", "rot270")),
    "flip ev. + rot90/270/180, pad, tiles retry": (("rot90", "rot270", "rot180", "pad", "tiles"), ("flip",)),
    "flip/rot90/270 ev. + rot180, pad retry": (("rot180", "pad"), ("flip", "rot90", "rot270")),
    "flip/rot90/270 ev. + rot180, pad, tiles": (("rot180", "pad", "tiles"), ("flip", "rot90", "rot270")),
    "all retries, no evidence": (("flip", "rot90", "rot270", "rot180", "pad", "tiles"), ()),
    "every view": ((), ("flip", "rot90", "rot270", "rot180", "pad", "tiles", "low")),
    "retries pad, flip, rot90/270/180, tiles": (("pad", "flip", "rot90", "rot270", "rot180", "tiles"), ()),
    "retries pad, flip, rot90/270/180": (("pad", "flip", "rot90", "rot270", "rot180"), ()),
    "retries pad, rot90/270, flip, rot180, tiles": (("pad", "rot90", "rot270", "flip", "rot180", "tiles"), ()),
}


def replay(cache: dict, retries, evidence) -> dict:
    """Per still: target found, extra detections, calls, seconds, for one configuration."""
    from types import SimpleNamespace

    from handmocap.detect.retry import merge_views
    from training.detector_pairs import match
    from training.still_views import cached_views, gt_sizes, simulate_still

    names = [str(v) for v in cache["views"]]
    sizes = gt_sizes(cache)
    N = len(cache["image"])
    out = {"found": np.zeros(N, bool), "extra": np.zeros(N, int), "calls": np.zeros(N), "seconds": np.zeros(N)}
    for i in range(N):
        ran, calls = simulate_still(cached_views(cache, i), retries, evidence)
        hands, _ = merge_views(ran)
        pairs = match([SimpleNamespace(keypoints_px=h.keypoints_px) for h in hands], cache["gt_keypoints_px"][i],
                      cache["gt_in_view"][i], sizes[i])
        target = 0 if cache["side"][i] == "right" else 1
        out["found"][i] = any(s == target for s, _, _ in pairs)
        out["extra"][i] = len(hands) - len(pairs)
        out["calls"][i] = calls
        out["seconds"][i] = sum(float(cache["seconds"][i, names.index(v)]) for v in ran)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("views", help="the views cache (training.still_views OUT)")
    a = ap.parse_args(argv)
    cache = dict(np.load(a.views))
    view = cache["view"]
    print(f"{len(view)} TRAIN stills; found % per camera view, extra detections, calls and detection ms per image")
    print(f"{'configuration':40s} {'all':>6s} " + " ".join(f"{v[:6]:>6s}" for v in VIEWS) + "  extra calls    ms")
    for name, (retries, evidence) in CONFIGS.items():
        r = replay(cache, retries, evidence)
        per = " ".join(f"{100 * r['found'][view == v].mean():6.1f}" for v in VIEWS)
        print(f"{name:40s} {100 * r['found'].mean():6.1f} {per}  {r['extra'].sum():5d} {r['calls'].mean():5.2f} "
              f"{1000 * r['seconds'].mean():5.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
