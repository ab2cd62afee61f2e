"""Recall: what each retry of `handmocap.detect.retry.RetryDetector` adds and costs.

    python -m training.evaluate_retry

The project's rendered clips, made hard for the detector: "small" (the frame shrunk to 20%
inside a grey 480x360 canvas: hands of about 30 px), small (30%) with every third frame
motion-blurred, and "upside down" (rotated 180 degrees). Per degradation and retry setting: share of ground-truth hands found (a detection
within 25% of the hand's size of its true 2D keypoints), mean 2D error of the found ones
(px, checks the mapping back), extra detector calls per frame (the cost, independent of the
machine's load) and milliseconds per frame.
"""
from __future__ import annotations

import time

import numpy as np

from .evaluate_clips import CLIPS, ROOT


def _small(scale: float):
    import cv2

    def image(img):
        H, W = img.shape[:2]
        w, h = round(W * scale), round(H * scale)
        out = np.full_like(img, 128)
        x0, y0 = (W - w) // 2, (H - h) // 2
        out[y0:y0 + h, x0:x0 + w] = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
        return out

    def points(px, W, H):
        w, h = round(W * scale), round(H * scale)
        return (px + 0.5) * np.array([w / W, h / H]) - 0.5 + np.array([(W - w) // 2, (H - h) // 2])

    return image, points


def _upside_down():
    return (lambda img: np.ascontiguousarray(img[::-1, ::-1]),
            lambda px, W, H: np.stack([W - 1 - px[..., 0], H - 1 - px[..., 1]], -1))


def _blurred(scale: float, every: int = 3):
    """Small hands, and every `every`-th frame motion-blurred (a fast hand)."""
    import cv2

    small, points = _small(scale)
    kernel = np.zeros((21, 21), np.float32)
    kernel[10, :] = 1 / 21
    state = {"n": 0}

    def image(img):
        out = small(img)
        state["n"] += 1
        return cv2.filter2D(out, -1, kernel) if state["n"] % every == 0 else out

    return image, points


DEGRADATIONS = {"small 20%": _small(0.2), "small 30%, every 3rd frame blurred": _blurred(0.3),
                "upside down": _upside_down()}
SETTINGS = {"no retry": (), "crop": ("crop",), "tiles": ("tiles",), "flip": ("flip",), "rotate": ("rotate",),
            "all": ("crop", "tiles", "flip", "rotate")}


def run_one(degradation: str, strategies, stems=CLIPS) -> dict:
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector
    from handmocap.detect.retry import RetryDetector
    from handmocap.video import Frame, open_frames

    image_fn, point_fn = DEGRADATIONS[degradation]
    found, total, errs, seconds, frames, calls = 0, 0, [], 0.0, 0, 0
    for stem in stems:
        gt = np.load(ROOT / (stem + ".gt.npz"))
        W, H = (int(v) for v in gt["image_size"])
        with RetryDetector(MediaPipeHandDetector(mode="video"), strategies=strategies) as det:
            for f in open_frames(ROOT / (stem + ".mp4")):
                img = image_fn(f.image)
                t0 = time.perf_counter()
                fd = det.detect(Frame(f.index, f.timestamp_s, img))
                seconds += time.perf_counter() - t0
                frames += 1
                for h in range(int(gt["num_hands"])):
                    if not gt[f"hand{h}_visible"][f.index]:
                        continue
                    total += 1
                    want = point_fn(gt[f"hand{h}_keypoints_px"][f.index], W, H)
                    size = np.linalg.norm(want.max(0) - want.min(0))
                    d = [np.linalg.norm(x.keypoints_px - want, axis=-1).mean() for x in fd.hands]
                    if d and min(d) < 0.25 * size:
                        found += 1
                        errs.append(min(d))
            calls += sum(det.stats.calls.values())
    return {"found": found / max(1, total), "px_error": float(np.mean(errs)) if errs else float("nan"),
            "extra_detector_calls_per_frame": calls / max(1, frames), "ms_per_frame": 1000 * seconds / max(1, frames)}


def main():
    import json

    for deg in DEGRADATIONS:
        for name, strategies in SETTINGS.items():
            print(deg, "|", name, json.dumps(run_one(deg, strategies)), flush=True)


if __name__ == "__main__":
    main()
