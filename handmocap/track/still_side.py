"""Which hand is it, on a single image: a tiny classifier over MediaPipe's own output.

MediaPipe's label alone is right on about 84% of the people evaluation set's stills. Its
mistakes are systematic (a left hand seen from the palm and a right hand seen from the back
project alike): the mirrored and turned views of the image repeat the same wrong label, so
a vote over views does not help (measured: training/still_side.py). What does help is the
shape of the detection itself: a small MLP reads

    label       MediaPipe's label as log-odds for "right" (signed, capped)
    chirality   the handedness of MediaPipe's metric 3D landmarks: the palm normal (index MCP
                x pinky MCP, from the wrist) against the thumb and the fingers' bend
    shape_2d    the 21 image keypoints from the wrist, in units of the wrist-middle MCP length
    shape_3d    the 21 metric 3D landmarks likewise

(108 inputs, `HIDDEN` ReLU units, one log-odds output; weights in `still_side.json`, trained
on the TRAIN renders' detections by `python -m training.still_side`, cross-validated by
subject). Letters: J = 21 keypoints, F = 108 inputs.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

WEIGHTS_PATH = Path(__file__).with_name("still_side.json")
MAX_LABEL_LOGIT = 6.9  # p = 0.999
NUM_INPUTS = 108
HIDDEN = 16


def label_logit(handedness: str, handedness_score: float) -> float:
    """MediaPipe's label as log-odds for "right": +logit(p) for "right", -logit(p) for "left"
    (the tracks' `handedness.label_logits` with a looser cap: here a classifier weighs it)."""
    from .handedness import label_logits

    return float(label_logits([handedness], [handedness_score], cap=MAX_LABEL_LOGIT)[0])


def chirality(keypoints_rel: np.ndarray) -> tuple[float, float]:
    """(thumb, flexion) cosines of the palm normal with the thumb and with the fingers' bend.

    keypoints_rel: (J, 3) metres, MediaPipe order. A mirror image negates both."""
    rel = np.asarray(keypoints_rel, np.float64)
    wrist = rel[0]
    normal = np.cross(rel[5] - wrist, rel[17] - wrist)
    normal /= np.linalg.norm(normal) + 1e-12
    thumb = rel[4] - wrist
    flexion = rel[[8, 12, 16, 20]].mean(0) - rel[[5, 9, 13, 17]].mean(0)
    return (float(normal @ thumb / (np.linalg.norm(thumb) + 1e-12)),
            float(normal @ flexion / (np.linalg.norm(flexion) + 1e-12)))


def side_inputs(keypoints_px: np.ndarray, keypoints_rel: np.ndarray, handedness: str,
                handedness_score: float) -> np.ndarray:
    """(F,) the classifier's inputs for one detection.

    keypoints_px: (J, 2) pixels; keypoints_rel: (J, 3) metres (MediaPipe order)."""
    px = np.asarray(keypoints_px, np.float64)
    rel = np.asarray(keypoints_rel, np.float64)
    p = (px - px[0]) / (np.linalg.norm(px[9] - px[0]) + 1e-9)
    r = (rel - rel[0]) / (np.linalg.norm(rel[9] - rel[0]) + 1e-12)
    return np.concatenate([[label_logit(handedness, handedness_score)], chirality(rel), p.ravel(), r.ravel()])


@functools.lru_cache(maxsize=4)
def load_weights(path: str | Path = WEIGHTS_PATH) -> dict:
    """{"w1": (F, H), "b1": (H,), "w2": (H,), "b2": float, ...} of the shipped classifier."""
    from ..errors import AssetError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        w = {k: np.asarray(data[k], np.float64) for k in ("w1", "b1", "w2", "b2")}
    except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError) as e:
        raise AssetError(path, f"cannot read the handedness classifier ({e!r})") from None
    if w["w1"].shape != (NUM_INPUTS, len(w["b1"])) or w["w2"].shape != w["b1"].shape:
        raise AssetError(path, f"expected w1 ({NUM_INPUTS}, H), b1 (H,), w2 (H,); got {w['w1'].shape}, "
                               f"{w['b1'].shape}, {w['w2'].shape}")
    return {**data, **w}


def side_logit(inputs: np.ndarray, weights: dict | None = None) -> np.ndarray:
    """Log-odds for "right": inputs (..., F) -> (...)."""
    w = load_weights() if weights is None else weights
    h = np.maximum(np.asarray(inputs, np.float64) @ w["w1"] + w["b1"], 0.0)
    return h @ w["w2"] + float(w["b2"])


def decide_sides(logits) -> list[str]:
    """The sides of one image's hands from their log-odds (N,): two hands of one image take
    different sides (the weaker decision gives way)."""
    logits = [float(v) for v in logits]
    sides = ["right" if v >= 0 else "left" for v in logits]
    if len(sides) == 2 and sides[0] == sides[1]:
        weaker = 0 if abs(logits[0]) < abs(logits[1]) else 1
        sides[weaker] = "left" if sides[weaker] == "right" else "right"
    return sides


__all__ = ["HIDDEN", "NUM_INPUTS", "WEIGHTS_PATH", "chirality", "decide_sides", "label_logit", "load_weights",
           "side_inputs", "side_logit"]
