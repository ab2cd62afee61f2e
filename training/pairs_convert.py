"""Detections of the rendered people stills -> a detector-pairs npz for training.

`training.detector_pairs` keeps, per still, both GT hand slots (right, left) and the matched
MediaPipe detection of each; training (`training.pairs.load_detector_pairs`) wants one row per
detected hand. Every found hand becomes a pair (the still's target hand and the other hand
when it was found too), with its true side (the ground truth decides the mirroring, not the
detector's label) and the detection's score for all 21 keypoints (what the tracker passes).
Subjects are split into train and validation (whole subjects, so validation hands belong to
bodies never seen in training):

    python -m training.pairs_convert datasets/handeval/train/detections.npz [more.npz ...] \\
        --out datasets/handeval/pairs/train.npz --val-out datasets/handeval/pairs/val.npz --val-every 8

Letters: N stills, P pairs, J=21.
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np

from handmocap.errors import FormatError
from handmocap.export.mesh import write_atomic

SIDES = ("right", "left")
NEEDED = ("found", "keypoints_px", "keypoints_rel", "score", "K", "gt_keypoints_cam", "view", "side", "subject",
          "hand_length_m", "image")


def detections_to_pairs(d: dict) -> dict:
    """One row per found hand of a detections dict (`training.detector_pairs` keys, N stills).

    Returns numpy arrays: keypoints_px (P, J, 2) pixels; keypoints_rel (P, J, 3) metres;
    scores (P, J); K (P, 3, 3); keypoints_cam (P, J, 3) metres (GT, our order); side (P,) true
    side; view (P,); subject (P,); target (P,) bool (the still's own hand); hand_length_m (P,);
    image (P,).
    """
    missing = [k for k in NEEDED if k not in d]
    if missing:
        raise FormatError(None, f"detections need keys {missing}")
    i, s = np.nonzero(np.asarray(d["found"], bool))
    tgt = np.array([SIDES.index(str(x)) for x in d["side"]])
    score = np.asarray(d["score"], np.float32)[i, s]
    return {"keypoints_px": np.asarray(d["keypoints_px"], np.float32)[i, s],
            "keypoints_rel": np.asarray(d["keypoints_rel"], np.float32)[i, s],
            "scores": np.repeat(score[:, None], 21, 1), "K": np.asarray(d["K"], np.float32)[i],
            "keypoints_cam": np.asarray(d["gt_keypoints_cam"], np.float32)[i, s],
            "side": np.array(SIDES)[s], "view": np.asarray(d["view"]).astype(str)[i],
            "subject": np.asarray(d["subject"])[i], "target": s == tgt[i],
            "hand_length_m": np.asarray(d["hand_length_m"], np.float32)[i], "image": np.asarray(d["image"]).astype(str)[i]}


def split_by_subject(pairs: dict, val_every: int) -> tuple[dict, dict]:
    """(train, validation): every `val_every`-th subject (in sorted order) goes to validation."""
    subjects = np.unique(pairs["subject"])
    val = np.isin(pairs["subject"], subjects[::val_every]) if val_every > 0 else np.zeros(len(pairs["subject"]), bool)
    return {k: v[~val] for k, v in pairs.items()}, {k: v[val] for k, v in pairs.items()}


def concat(parts: list[dict]) -> dict:
    """Detections dicts of several runs (same keys) as one."""
    keys = set.intersection(*(set(p) for p in parts))
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in keys}


def _write(path: Path, arrays: dict) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buf.getvalue())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("detections", type=Path, nargs="+")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--val-out", type=Path, default=None)
    ap.add_argument("--val-every", type=int, default=8, help="every k-th subject to validation (0: none)")
    a = ap.parse_args(argv)
    d = concat([dict(np.load(p)) for p in a.detections])
    if len(np.unique(d["image"])) != len(d["image"]):
        raise SystemExit("the same still appears twice in the inputs")
    pairs = detections_to_pairs(d)
    train, val = split_by_subject(pairs, a.val_every if a.val_out else 0)
    _write(a.out, train)
    print(f"{a.out}: {len(train['side'])} pairs of {len(np.unique(train['subject']))} subjects")
    if a.val_out:
        _write(a.val_out, val)
        print(f"{a.val_out}: {len(val['side'])} pairs of {len(np.unique(val['subject']))} subjects")
    return 0


if __name__ == "__main__":
    sys.exit(main())
