"""Which hand is it, on a single image: a small logistic classifier over what the detector
says in several views of the still.

MediaPipe's label alone is right on about 85% of the people evaluation set's stills; the
views disagree where it is unsure. Per hand the evidence is:

    label_<view>   MediaPipe's label as log-odds for "right" (signed, capped) in each view of
                   `SIDE_VIEWS` (the plain image, its mirror image with the label flipped
                   back, the image turned by 90 and 270 degrees), 0 where that view did not
                   find the hand
    chirality_*    the handedness of MediaPipe's metric 3D landmarks themselves: the palm
                   normal (index MCP x pinky MCP, from the wrist) against the thumb and
                   against the fingers' flexion (a mirror image flips both signs)
    geometry       the keypoint model's reading as a right and as a left hand, which explains
                   the 2D and 3D landmarks better (`handedness.side_evidence`'s geometry
                   log-odds, capped)

`side_logit` weighs them with `still_side.json` (trained on the TRAIN split by
`python -m training.still_side`, cross-validated by subject). Letters: J = 21 keypoints.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np

SIDE_VIEWS = ("plain", "flip", "rot90", "rot270")
FEATURES = tuple(f"label_{v}" for v in SIDE_VIEWS) + ("chirality_thumb", "chirality_flexion", "geometry")
WEIGHTS_PATH = Path(__file__).with_name("still_side.json")
MAX_LABEL_LOGIT = 6.9  # p = 0.999
MAX_GEOMETRY_LOGIT = 10.0


def label_logit(handedness: str, handedness_score: float) -> float:
    """MediaPipe's label as log-odds for "right": +logit(p) for "right", -logit(p) for "left"."""
    p = float(np.clip(handedness_score, 0.5, 0.999))
    sign = {"right": 1.0, "left": -1.0}.get(handedness, 0.0)
    return sign * min(float(np.log(p / (1 - p))), MAX_LABEL_LOGIT)


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


def geometry_logit(hand, K) -> float:
    """Log-odds for "right" from the keypoint model's right and left readings of a hand
    (`handedness.side_costs`), capped. K: (3, 3) intrinsics."""
    from .handedness import GEOMETRY_TEMPERATURE, side_costs

    cost_right, cost_left = side_costs(hand.keypoints_px[None], hand.keypoints_rel[None],
                                       np.array([hand.score]), np.asarray(K, np.float64))
    v = float((cost_left - cost_right)[0]) / GEOMETRY_TEMPERATURE
    return float(np.clip(v, -MAX_GEOMETRY_LOGIT, MAX_GEOMETRY_LOGIT))


def side_features(hand, views: dict, K) -> np.ndarray:
    """(F,) `FEATURES` of one detected hand.

    Args:
        hand: the `HandDetection` (keypoints in the image's pixels).
        views: {view: [HandDetection mapped back to the image]} as `detect_still` returns;
            views that were not run count as not finding the hand.
        K: (3, 3) the image's intrinsics (the assumed ones if unknown).
    """
    from ..detect.retry import same_hand

    out = []
    for view in SIDE_VIEWS:
        found = [h for h in views.get(view, ()) if same_hand(h, hand)]
        best = min(found, key=lambda h: np.linalg.norm(h.keypoints_px - hand.keypoints_px, axis=-1).mean(),
                   default=None)
        out.append(label_logit(best.handedness, best.handedness_score) if best is not None else 0.0)
    out.extend(chirality(hand.keypoints_rel))
    out.append(geometry_logit(hand, K))
    return np.asarray(out, np.float64)


@functools.lru_cache(maxsize=4)
def load_weights(path: str | Path = WEIGHTS_PATH) -> dict:
    """{"features": [...], "weights": (F,), "bias": float, ...} of the shipped classifier."""
    from ..errors import AssetError

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as e:
        raise AssetError(path, f"cannot read the handedness classifier ({e})") from None
    if tuple(data.get("features", ())) != FEATURES:
        raise AssetError(path, f"features {data.get('features')} are not {list(FEATURES)}")
    return data


def side_logit(features: np.ndarray, weights: dict | None = None) -> np.ndarray:
    """Log-odds for "right": features (..., F) -> (...)."""
    w = load_weights() if weights is None else weights
    return np.asarray(features, np.float64) @ np.asarray(w["weights"], np.float64) + float(w["bias"])


def decide_sides(logits) -> list[str]:
    """The sides of one image's hands from their log-odds (N,): two hands of one image take
    different sides (the weaker decision gives way)."""
    logits = [float(v) for v in logits]
    sides = ["right" if v >= 0 else "left" for v in logits]
    if len(sides) == 2 and sides[0] == sides[1]:
        weaker = 0 if abs(logits[0]) < abs(logits[1]) else 1
        sides[weaker] = "left" if sides[weaker] == "right" else "right"
    return sides


__all__ = ["FEATURES", "SIDE_VIEWS", "WEIGHTS_PATH", "chirality", "decide_sides", "geometry_logit", "label_logit", "load_weights",
           "side_features", "side_logit"]
