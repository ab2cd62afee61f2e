"""MediaPipe on several views of each rendered still (train split), cached for the stills'
recall and handedness work: the plain image, its mirror image, the image rotated by 90, 270
and 180 degrees, padded with a grey border, five upscaled overlapping tiles (every detection
mapped back to the original image: `handmocap.detect.retry.view_hands`) and the plain image
at lower thresholds ("low"), with the time each view cost.

    python -m training.still_views SRC_DIR OUT.npz [--limit N]

SRC_DIR holds chunks/chunk_*.npz (the renderer's GT, as tools/render_eval_set.py writes it)
and images/; stills whose image is missing are skipped, stills already in OUT are kept
(resumable: the renderer keeps adding images). OUT arrays (N stills, V views, 2 hands):

    image (N,) str   view (N,) str   side (N,) str   subject (N,) int   K (N, 3, 3)
    image_size (N, 2)   gt_keypoints_px (N, 2, 21, 2)   gt_in_view (N, 2) bool   hand_px (N,)
    views (V,) str      seconds (N, V)   count (N, V) detections (up to 2 kept)
    keypoints_px (N, V, 2, 21, 2) pixels of the original image (NaN: none)
    keypoints_rel (N, V, 2, 21, 3) metres, camera-aligned axes of the original image
    right (N, V, 2) MediaPipe's label mapped back to the original ("right" = 1, NaN: none)
    score (N, V, 2) the label's score
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import cv2
import numpy as np

VIEWS = ("plain", "flip", "rot90", "rot270", "rot180", "pad", "tiles", "low")
LOW_CONFIDENCE = 0.25  # the "low" view: the plain image with lower detection / presence thresholds


def detect_views(detector, image: np.ndarray, low_detector=None) -> dict:
    """{view: (hands mapped back to `image`, seconds)} for every view of `VIEWS`.

    image: (H, W, 3) uint8 RGB; low_detector: the "low" view's detector (None: no hands)."""
    from handmocap.detect.retry import view_hands

    out = {}
    for name in VIEWS:
        t0 = time.perf_counter()
        if name == "low":
            hands = view_hands(low_detector, image, "plain") if low_detector else []
        else:
            hands = view_hands(detector, image, name)
        out[name] = (list(hands)[:2], time.perf_counter() - t0)
    return out


def _load_gt(src: Path) -> dict:
    parts = [dict(np.load(p)) for p in sorted((src / "chunks").glob("chunk_*.npz"))]
    gt = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    have = np.array([(src / str(f)).is_file() for f in gt["image"]])
    return {k: v[have] for k, v in gt.items()}


def main(argv: list[str] | None = None) -> int:
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector
    from handmocap.export.mesh import write_atomic

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("src", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--limit", type=int, default=None)
    a = ap.parse_args(argv)
    gt = _load_gt(a.src)
    old = dict(np.load(a.out)) if a.out.is_file() else None
    done = set(old["image"].tolist()) if old else set()
    todo = [i for i, f in enumerate(gt["image"]) if str(f) not in done][: a.limit]
    V = len(VIEWS)
    n = len(todo)
    new = {"seconds": np.zeros((n, V)), "count": np.zeros((n, V), int),
           "keypoints_px": np.full((n, V, 2, 21, 2), np.nan, np.float32),
           "keypoints_rel": np.full((n, V, 2, 21, 3), np.nan, np.float32),
           "right": np.full((n, V, 2), np.nan, np.float32), "score": np.full((n, V, 2), np.nan, np.float32)}
    low = MediaPipeHandDetector(max_hands=2, mode="image", min_detection_confidence=LOW_CONFIDENCE,
                                min_presence_confidence=LOW_CONFIDENCE)
    with MediaPipeHandDetector(max_hands=2, mode="image") as det, low:
        for j, i in enumerate(todo):
            rgb = cv2.cvtColor(cv2.imread(str(a.src / str(gt["image"][i])), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
            for v, (hands, sec) in enumerate(detect_views(det, rgb, low).values()):
                new["seconds"][j, v], new["count"][j, v] = sec, len(hands)
                for k, h in enumerate(hands):
                    new["keypoints_px"][j, v, k] = h.keypoints_px
                    new["keypoints_rel"][j, v, k] = h.keypoints_rel
                    new["right"][j, v, k] = float(h.handedness == "right")
                    new["score"][j, v, k] = h.score
            if (j + 1) % 50 == 0:
                print(f"  {j + 1}/{n}", flush=True)
    for key, src_key in (("image", "image"), ("view", "view"), ("side", "side"), ("subject", "subject"),
                         ("K", "K"), ("image_size", "image_size"), ("gt_keypoints_px", "keypoints_px"),
                         ("gt_keypoints_cam", "keypoints_cam"), ("gt_in_view", "in_view"), ("hand_px", "hand_px")):
        new[key] = gt[src_key][todo]
    if old:
        new = {k: np.concatenate([old[k], new[k]]) for k in new}
    new["views"] = np.array(VIEWS)
    buf = io.BytesIO()
    np.savez_compressed(buf, **new)
    write_atomic(a.out, buf.getvalue())
    print(f"{a.out}: {len(new['image'])} stills ({n} new)")
    return 0


if __name__ == "__main__":
    sys.exit(main())


def cached_views(cache: dict, i: int) -> dict:
    """{view: [HandDetection mapped back]} of still i of a loaded OUT file (every cached view)."""
    from handmocap.detect.base import HandDetection

    out = {}
    for v, name in enumerate(cache["views"]):
        hands = []
        for k in range(int(cache["count"][i, v])):
            score = float(cache["score"][i, v, k])
            hands.append(HandDetection(keypoints_px=cache["keypoints_px"][i, v, k].astype(np.float64),
                                       keypoints_rel=cache["keypoints_rel"][i, v, k].astype(np.float64),
                                       handedness="right" if cache["right"][i, v, k] == 1 else "left",
                                       handedness_score=score, score=score))
        out[str(name)] = hands
    return out


def simulate_still(views: dict, retries=(), evidence=()) -> tuple[dict, int]:
    """What `handmocap.detect.retry.detect_still` would have run, from cached views:
    ({view: hands} in its order, detector calls)."""
    ran = {"plain": views["plain"]}
    for view in evidence:
        ran[view] = views[view]
    for view in retries:
        if any(ran.values()):
            break
        ran.setdefault(view, views[view])
    calls = sum(5 if v == "tiles" else 1 for v in ran)
    return ran, calls


def gt_sizes(cache: dict) -> np.ndarray:
    """(N, 2) GT hand box sides, pixels."""
    px = cache["gt_keypoints_px"]
    return (px.max(2) - px.min(2)).max(2)
