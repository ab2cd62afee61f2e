"""(real detector output -> ground truth) pairs of the rendered people stills.

MediaPipe runs once per still (IMAGE mode, up to two hands); each detection is matched to
the rendered hand whose GT 2D keypoints it lies on, so retraining and evaluation need
neither Blender nor MediaPipe again. `python -m training.detector_pairs SPLIT_DIR` writes
SPLIT_DIR/detections.npz:

    image          (N,) str, as in stills.npz (the GT file; its arrays are copied in too)
    K              (N, 3, 3)      view  (N,) str      side  (N,) str (the hand the view shows)
    subject        (N,) int       hand_length_m (N,)  image_size (N, 2)
    gt_keypoints_cam (N, 2, 21, 3) metres, [right, left] hands, our order
    gt_keypoints_px  (N, 2, 21, 2) pixels     gt_in_view (N, 2) bool
    found          (N, 2) bool: a detection matched that GT hand
    keypoints_px   (N, 2, 21, 2) pixels, the matched detection's landmarks (NaN if none)
    keypoints_rel  (N, 2, 21, 3) metres, its world landmarks (MediaPipe's metric 3D)
    handedness     (N, 2) str, its label ('' if none)
    handedness_score (N, 2), score (N, 2)
    match_px       (N, 2) mean 2D distance of the match to the GT keypoints, pixels
    extra_detections (N,) int: detections that matched no GT hand (false positives)
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import cv2
import numpy as np

from handmocap.export.mesh import write_atomic

SIDES = ("right", "left")  # GT hand slots


def match(detections, gt_px: np.ndarray, in_view: np.ndarray, hand_px: np.ndarray) -> list:
    """Assign detections to GT hands: (slot, detection, mean px distance) for pairs whose mean
    keypoint distance is under a third of the hand's size, closest pairs first.

    gt_px: (2, 21, 2); in_view: (2,) bool; hand_px: (2,) hand box sides, pixels."""
    pairs = []
    for s in range(2):
        if not in_view[s]:
            continue
        for k, d in enumerate(detections):
            e = float(np.linalg.norm(d.keypoints_px - gt_px[s], axis=-1).mean())
            if e < max(hand_px[s], 30.0) / 3:
                pairs.append((e, s, k))
    used_s, used_k, out = set(), set(), []
    for e, s, k in sorted(pairs):
        if s in used_s or k in used_k:
            continue
        used_s.add(s), used_k.add(k)
        out.append((s, detections[k], e))
    return out


def detect_stills(split_dir: Path, log=print, limit: int | None = None, gt: dict | None = None,
                  second_look: bool = False) -> dict:
    """Run MediaPipe (IMAGE mode) on every still of a split (or the first `limit`); returns
    the arrays above. `gt`: the stills' ground truth (stills.npz keys, image paths relative to
    `split_dir`; default split_dir/stills.npz). second_look: MediaPipe's second look at each
    hand, as the photos mode runs it (`MediaPipeHandDetector(second_look=True)`)."""
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector
    from handmocap.video import Frame

    split_dir = Path(split_dir)
    gt = dict(np.load(split_dir / "stills.npz")) if gt is None else gt
    if limit is not None:
        gt = {k: v[:limit] for k, v in gt.items()}
    N = len(gt["image"])
    out = {"found": np.zeros((N, 2), bool), "keypoints_px": np.full((N, 2, 21, 2), np.nan),
           "keypoints_rel": np.full((N, 2, 21, 3), np.nan), "handedness": np.full((N, 2), "", dtype="<U5"),
           "handedness_score": np.zeros((N, 2)), "score": np.zeros((N, 2)), "match_px": np.full((N, 2), np.nan),
           "extra_detections": np.zeros(N, int)}
    with MediaPipeHandDetector(max_hands=2, mode="image", second_look=second_look) as det:
        for i in range(N):
            bgr = cv2.imread(str(split_dir / str(gt["image"][i])), cv2.IMREAD_COLOR)
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            dets = det.detect(Frame(index=i, timestamp_s=0.0, image=rgb)).hands
            px = gt["keypoints_px"][i]
            sizes = (px.max(1) - px.min(1)).max(1)
            pairs = match(dets, px, gt["in_view"][i], sizes)
            for s, d, e in pairs:
                out["found"][i, s] = True
                out["keypoints_px"][i, s] = d.keypoints_px
                out["keypoints_rel"][i, s] = d.keypoints_rel
                out["handedness"][i, s] = d.handedness
                out["handedness_score"][i, s] = d.handedness_score
                out["score"][i, s] = d.score
                out["match_px"][i, s] = e
            out["extra_detections"][i] = len(dets) - len(pairs)
            if log and (i + 1) % 50 == 0:
                log(f"  detected {i + 1}/{N}")
    out.update(image=gt["image"], K=gt["K"], view=gt["view"], side=gt["side"], subject=gt["subject"],
               hand_length_m=gt["hand_length_m"], image_size=gt["image_size"],
               gt_keypoints_cam=gt["keypoints_cam"], gt_keypoints_px=gt["keypoints_px"], gt_in_view=gt["in_view"])
    return out


def load_or_detect(split_dir: Path, log=print, second_look: bool = False) -> dict:
    """The cached pairs of a split, computed (and written) when missing or made for other stills
    (file times are not kept by git, so the image lists are compared); split_dir/detections.npz,
    or detections_second_look.npz with `second_look`."""
    split_dir = Path(split_dir)
    path = split_dir / ("detections_second_look.npz" if second_look else "detections.npz")
    if path.exists():
        cached = dict(np.load(path))
        if np.array_equal(cached["image"], np.load(split_dir / "stills.npz")["image"]):
            return cached
    out = detect_stills(split_dir, log=log, second_look=second_look)
    buf = io.BytesIO()
    np.savez_compressed(buf, **out)
    write_atomic(path, buf.getvalue())
    return out


def detect_chunks(split_dir: Path, cache_dir: Path, log=print, second_look: bool = False) -> dict:
    """The pairs of every finished render chunk (split_dir/chunks/chunk_*.npz whose images all
    exist), one cached cache_dir/chunk_*.npz each, so a split still being rendered (or one that
    may not be written to) is detected incrementally; returns the chunks' arrays concatenated."""
    split_dir, cache_dir = Path(split_dir), Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    parts = []
    for chunk in sorted((split_dir / "chunks").glob("chunk_*.npz")):
        gt = dict(np.load(chunk))
        if not all((split_dir / str(p)).exists() for p in gt["image"]):
            continue
        path = cache_dir / chunk.name
        if path.exists():
            parts.append(dict(np.load(path)))
            continue
        out = detect_stills(split_dir, log=None, gt=gt, second_look=second_look)
        buf = io.BytesIO()
        np.savez_compressed(buf, **out)
        write_atomic(path, buf.getvalue())
        parts.append(out)
        if log:
            log(f"  {chunk.name}: {len(gt['image'])} stills")
    if not parts:
        return {}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="MediaPipe on every rendered still -> detections.npz")
    ap.add_argument("split_dir", type=Path)
    ap.add_argument("--chunks-cache", type=Path, default=None,
                    help="detect every finished render chunk incrementally, one cached npz per chunk here")
    ap.add_argument("--out", type=Path, default=None, help="with --chunks-cache: the merged detections.npz")
    ap.add_argument("--second-look", action="store_true",
                    help="MediaPipe's second look at each hand, as the photos mode runs it "
                         "(writes detections_second_look.npz)")
    a = ap.parse_args(argv)
    if a.chunks_cache is not None:
        if a.out is None:
            ap.error("--chunks-cache needs --out")
        d = detect_chunks(a.split_dir, a.chunks_cache, second_look=a.second_look)
        if not d:
            print(f"{a.split_dir}: no finished chunk with its images", file=sys.stderr)
            return 1
        buf = io.BytesIO()
        np.savez_compressed(buf, **d)
        write_atomic(a.out, buf.getvalue())
    else:
        d = load_or_detect(a.split_dir, second_look=a.second_look)
    tgt = np.array([0 if s == "right" else 1 for s in d["side"]])
    found = d["found"][np.arange(len(tgt)), tgt]
    print(f"{a.split_dir}: {len(tgt)} stills, target hand found on {found.mean():.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
