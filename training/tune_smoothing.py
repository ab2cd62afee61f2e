"""How the smoothing's depth and orientation constants (`track.filters.DEPTH_CUTOFF_SCALE`,
`DEPTH_SPEED_WEIGHT`, `ORIENT_BETA_SCALE`) were chosen: the people set's TRAIN clips (never the
test split) and the project's own rendered clips, each tracked once (detections replayed) per
setting.

    python tools/render_eval_set.py clips --split train --out datasets/handeval/train  # committed
    python tools/render_eval_set.py clips --split train --out datasets/handeval/train --variant 1  # and 2
        # (left_hand_v1/_v2 dropped: the egocentric camera never sees those subjects' hand)
    python -m training.tune_smoothing 1:1:1 0.3:0.25:1 0.3:0.25:0.2   # WEIGHT:SCALE:ORIENT each
    python -m training.tune_smoothing min_cutoff=0.7,orient_beta_scale=0.1   # any FilterOptions fields

Prints per setting the mean CS-MJE, PA-MPJPE and jitter (mm/frame^2, the GT's own beside it)
of the people TRAIN clips and the own clips' CS-MJE and acceleration error, then each people
clip's jitter over its GT's.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

TRAIN_CLIPS = Path("datasets/handeval/train/clips")
OWN_CLIPS = ("examples/hand_wave", "tests/data/videos/one_hand", "tests/data/videos/two_hands")


def clips() -> list[tuple[str, Path, Path, Path]]:
    """(label, video, calibration, GT) of every tuning clip."""
    out = []
    for gt in sorted(TRAIN_CLIPS.glob("*.gt.npz")):
        name = gt.name[:-len(".gt.npz")]
        out.append((f"people/{name}", gt.with_name(name + ".mp4"), gt.with_name(name + ".calib.json"), gt))
    for stem in OWN_CLIPS:
        out.append((f"own/{Path(stem).name}", Path(stem + ".mp4"), Path(stem + ".calib.json"), Path(stem + ".gt.npz")))
    return out


def setting(arg: str) -> tuple:
    """"W:S:O" (depth speed weight, depth cutoff scale, orientation beta scale) or
    "field=value,..." of `FilterOptions` -> a sorted tuple of (field, value)."""
    if "=" in arg:
        pairs = [kv.split("=") for kv in arg.split(",")]
        return tuple(sorted((k, float(v)) for k, v in pairs))
    weight, scale, orient = (float(v) for v in arg.split(":"))
    return tuple(sorted({"depth_speed_weight": weight, "depth_cutoff_scale": scale, "orient_beta_scale": orient}.items()))


def score(settings: list[tuple]) -> dict:
    """{setting (see `setting`): [(label, CS-MJE, PA-MPJPE, jitter or acceleration error, GT jitter)]}."""
    from bench.accuracy import ReplayDetector, metrics, record
    from bench.eval_set import _clip_extras
    from handmocap.track.pipeline import FilterOptions, TrackOptions, track_input

    res: dict = {s: [] for s in settings}
    for label, video, calib, gt_path in clips():
        gt, dets = dict(np.load(gt_path)), record(video)
        for fields in settings:
            smoothing = FilterOptions(**dict(fields))
            motion = track_input(video, TrackOptions(intrinsics=calib, smoothing=smoothing), detector=ReplayDetector(dets))
            m = metrics([t.keypoints_cam for t in motion.tracks], motion, gt, with_mesh=False)
            extra = _clip_extras(motion, gt) if "num_hands" in gt else {"jitter": m["accel_mm"], "jitter_gt": np.nan}
            res[fields].append((label, m["cs_mje_mm"], m["pa_mpjpe_mm"], extra["jitter"], extra["jitter_gt"]))
    return res


def main(argv: list[str]) -> None:
    os.environ.setdefault("GLOG_minloglevel", "2")
    settings = [setting(a) for a in (argv or ["1:1:1", "0.3:0.25:1", "0.3:0.25:0.2"])]
    for fields, rows in score(settings).items():
        people = [r for r in rows if r[0].startswith("people/")]
        own = [r for r in rows if r[0].startswith("own/")]
        mean = lambda rs, k: float(np.mean([r[k] for r in rs]))  # noqa: E731
        name = " ".join(f"{k} {v:g}" for k, v in fields)
        print(f"{name} | people CS-MJE {mean(people, 1):.2f} PA-MPJPE {mean(people, 2):.2f} "
              f"jitter {mean(people, 3):.2f} (GT {mean(people, 4):.2f}) | own CS-MJE {mean(own, 1):.2f} "
              f"PA-MPJPE {mean(own, 2):.2f} acceleration error {mean(own, 3):.2f}")
        print("    CS-MJE, jitter / GT's: " + ", ".join(f"{r[0][7:]} {r[1]:.1f}, {r[3]:.2f}/{r[4]:.2f}" for r in people))


if __name__ == "__main__":
    main(sys.argv[1:])
