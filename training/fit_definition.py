"""Measure a detector's landmark definition (`solve.detector_offsets`) on rendered people:
where MediaPipe puts each landmark relative to the true joints, as an affine combination of the
joint and its neighbours, fitted by least squares on the image plane over committed detections
(the people set's TRAIN split, never the test split).

    python -m training.fit_definition datasets/handeval/train/detections.npz \
        datasets/handeval/train_extra/detections.npz [--write mediapipe_people]

Each landmark may lean on: the wrist on the middle knuckle; a finger's knuckle (MCP) on the
wrist; a fingertip on its last joint; every other joint on its parent and child (the thumb's
base also on the wrist). Offsets are divided by the hand's palm length (wrist to middle MCP)
so big hands do not dominate. Prints the weights and the mean 2D error in palm lengths of the
identity, the current "mediapipe" definition and the fitted one (the fitted one on held-out
subjects: fitted on even subjects, scored on odd ones and the other way round).
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import numpy as np

from handmocap.hand.joints import KEYPOINT_NAMES, KEYPOINT_PARENTS

FINGER_MCPS = (5, 9, 13, 17)
TIPS = (4, 8, 12, 16, 20)


def neighbours(landmark: int) -> list[int]:
    """The joints a landmark's position may lean on (besides its own joint)."""
    if landmark == 0:
        return [9]
    if landmark in FINGER_MCPS:
        return [0]
    if landmark in TIPS:
        return [KEYPOINT_PARENTS[landmark]]
    children = [c for c in range(21) if KEYPOINT_PARENTS[c] == landmark]
    return [KEYPOINT_PARENTS[landmark]] + children


def load(paths) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(true joints (N, 21, 2) px, detector landmarks (N, 21, 2) px, subject (N,)) of every
    found hand with finite keypoints in `paths` (`training.detector_pairs` files)."""
    joints, landmarks, subjects = [], [], []
    for path in paths:
        d = np.load(path)
        found = d["found"] & d["gt_in_view"] & np.isfinite(d["keypoints_px"]).all((-2, -1)) \
            & np.isfinite(d["gt_keypoints_px"]).all((-2, -1))
        i, h = np.nonzero(found)
        joints.append(d["gt_keypoints_px"][i, h])
        landmarks.append(d["keypoints_px"][i, h])
        subjects.append(d["subject"][i])
    return np.concatenate(joints), np.concatenate(landmarks), np.concatenate(subjects)


def fit_definition(joints: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """(21, 21) D with landmarks ~ D @ joints, rows summing to 1, each row nonzero only on the
    landmark's own joint and its `neighbours`.

    joints, landmarks: (N, 21, 2) pixels."""
    palm = np.linalg.norm(joints[:, 9] - joints[:, 0], axis=-1)[:, None, None]
    D = np.eye(21)
    for lm in range(21):
        nb = neighbours(lm)
        A = ((joints[:, nb] - joints[:, lm:lm + 1]) / palm).transpose(0, 2, 1).reshape(-1, len(nb))
        y = ((landmarks[:, lm] - joints[:, lm]) / palm[:, 0]).reshape(-1)
        w = np.linalg.lstsq(A, y, rcond=None)[0]
        D[lm] = 0.0
        D[lm, lm], D[lm, nb] = 1.0 - w.sum(), w
    return D


def error(D: np.ndarray, joints: np.ndarray, landmarks: np.ndarray) -> float:
    """Mean distance between D @ joints and the landmarks, in palm lengths."""
    palm = np.linalg.norm(joints[:, 9] - joints[:, 0], axis=-1)[:, None]
    return float((np.linalg.norm(np.einsum("lk,nkc->nlc", D, joints) - landmarks, axis=-1) / palm).mean())


def as_json(D: np.ndarray) -> dict:
    """The `landmarks` entry of a definition in detector_keypoints.json (identity rows left out)."""
    out = {}
    for lm in range(21):
        if not np.allclose(D[lm], np.eye(21)[lm]):
            combo = {KEYPOINT_NAMES[k]: round(float(D[lm, k]), 4) for k in np.flatnonzero(D[lm])}
            own = KEYPOINT_NAMES[lm]  # takes up the rounding, so that the row sums to 1
            combo[own] = round(combo.get(own, 0.0) + 1.0 - sum(combo.values()), 4)
            out[own] = combo
    return out


def main(argv: list[str] | None = None) -> int:
    from handmocap.solve.detector_offsets import detector_matrix

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("detections", nargs="+", type=Path)
    ap.add_argument("--write", metavar="NAME", help="store the fitted definition under NAME in detector_keypoints.json")
    a = ap.parse_args(argv)
    joints, landmarks, subjects = load(a.detections)
    even = subjects % 2 == 0
    held_out = (error(fit_definition(joints[even], landmarks[even]), joints[~even], landmarks[~even]) * (~even).sum()
                + error(fit_definition(joints[~even], landmarks[~even]), joints[even], landmarks[even]) * even.sum()) / len(joints)
    D = fit_definition(joints, landmarks)
    print(f"{len(joints)} hands, {len(set(subjects.tolist()))} subjects; mean 2D error in palm lengths: identity "
          f"{error(np.eye(21), joints, landmarks):.4f}, 'mediapipe' {error(detector_matrix('mediapipe'), joints, landmarks):.4f}, "
          f"fitted {held_out:.4f} (held-out subjects)")
    entry = as_json(D)
    for name, combo in entry.items():
        print(f"  {name:12s} {combo}")
    if a.write:
        path = Path(__file__).resolve().parents[1] / "handmocap" / "hand" / "data" / "detector_keypoints.json"
        data = json.loads(path.read_text())
        data["definitions"][a.write] = {
            "description": (f"MediaPipe hand-landmarker landmarks as measured on rendered people (the people set's TRAIN "
                            f"split, {len(joints)} detected hands of {len(set(subjects.tolist()))} subjects: "
                            f"`python -m training.fit_definition`): a least-squares affine combination of each joint and "
                            f"its neighbours on the image plane. It includes MediaPipe's average pull toward the palm "
                            f"on hard views (fingertips toward their last joint). Not the default: trained with it "
                            f"(training/configs/keypoints_v5_people.yaml) the model placed held-out people no better "
                            f"(model card, 'Session 7')."),
            "landmarks": entry}
        text = json.dumps(data, indent=2)
        # one line per landmark, as the file is written by hand
        text = re.sub(r"\{\s*((?:\"\w+\": -?[\d.e-]+,?\s*)+)\}",
                      lambda m: "{" + ", ".join(x.strip() for x in m.group(1).split(",")) + "}", text)
        path.write_text(text + "\n")
        print(f"wrote definition {a.write!r} to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
