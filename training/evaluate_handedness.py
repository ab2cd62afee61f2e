"""Handedness: the detector's label vs the 3D evidence (`handmocap.track.handedness`).

    python -m training.evaluate_handedness

Inputs with a known true side: the project's rendered clips and their mirror images (a
mirror flips the true side), and the real photo right04.jpg (a left hand, tests/detect/
handphoto.py) and its mirror. MediaPipe runs on every frame (video mode for clips; cached in
training/runs/cache). Per input it prints the share of detections whose side is right by
(a) MediaPipe's label, (b) geometry alone, (c) label + geometry per frame (single images),
(d) the same with the detector's label flipped on every frame (the case where MediaPipe is
wrong: geometry must outvote it), and whether the tracker's track vote is right.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .evaluate_clips import CACHE, CLIPS, ROOT

RIGHT04 = Path("/usr/share/doc/opencv-doc/examples/data/right04.jpg")


def _detect_frames(frames, mode: str = "video"):
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector

    with MediaPipeHandDetector(mode=mode) as det:
        return [det.detect(f) for f in frames]


def clip_detections(stem: str, mirrored: bool):
    """MediaPipe on the clip's frames (mirrored: flipped left-right), cached."""
    from handmocap.video import Frame, open_frames

    path = CACHE / (Path(stem).name + (".mirror" if mirrored else "") + ".dets.pkl")
    if path.exists():
        return pickle.loads(path.read_bytes())
    frames = (Frame(f.index, f.timestamp_s, np.ascontiguousarray(f.image[:, ::-1]) if mirrored else f.image)
              for f in open_frames(ROOT / (stem + ".mp4")))
    dets = _detect_frames(frames)
    CACHE.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pickle.dumps(dets))
    return dets


def _truth(hand, gt, frame_index: int, mirrored: bool, W: int) -> str | None:
    """True side of a detection: the ground-truth hand nearest in 2D."""
    best, side = np.inf, None
    for h in range(int(gt["num_hands"])):
        kp = gt[f"hand{h}_keypoints_px"][frame_index].copy()
        if mirrored:
            kp[:, 0] = W - 1 - kp[:, 0]
        d = np.linalg.norm(kp - hand.keypoints_px, axis=-1).mean()
        if d < best:
            best, side = d, str(gt[f"hand{h}_side"])
    if side is None:
        return None
    return {"left": "right", "right": "left"}[side] if mirrored else side


def _score(dets, truth_of, K) -> dict:
    from handmocap.track.associate import associate_tracks
    from handmocap.track.handedness import label_logits, relabel_tracks, side_evidence

    rows = [(fd.index, h, truth_of(h, fd.index)) for fd in dets for h in fd.hands]
    px = np.stack([h.keypoints_px for _, h, _ in rows])
    rel = np.stack([h.keypoints_rel for _, h, _ in rows])
    labels = np.array([h.handedness for _, h, _ in rows])
    probs = np.array([h.handedness_score for _, h, _ in rows])
    truth = np.array([t for _, _, t in rows])
    ev = side_evidence(px, rel, np.ones(len(rows)), K, labels, probs)
    side = lambda logit: np.where(logit >= 0, "right", "left")  # noqa: E731
    flipped = -label_logits(labels, probs)
    out = {"detections": len(rows), "label": float(np.mean(labels == truth)),
           "geometry": float(np.mean(side(ev.geometry_logit) == truth)),
           "combined": float(np.mean(side(ev.logit) == truth)),
           "combined, label flipped": float(np.mean(side(ev.geometry_logit + flipped) == truth))}
    tracks = associate_tracks(dets)
    if tracks:
        want = []
        for t in tracks:
            fd = {d.index: d for d in dets}[int(t.frame_index[0])]
            h = min(fd.hands, key=lambda h: np.linalg.norm(h.keypoints_px - t.keypoints_px[0], axis=-1).mean())
            want.append(truth_of(h, fd.index))
        out["tracks: label vote"] = float(np.mean([t.side == w for t, w in zip(tracks, want)]))
        out["tracks: label + geometry vote"] = float(np.mean([t.side == w for t, w in
                                                              zip(relabel_tracks(tracks, K), want)]))
    return out


def run() -> dict:
    import torch

    from handmocap.camera.intrinsics import Intrinsics
    from handmocap.camera.weak_perspective import assumed_intrinsics
    from handmocap.video import Frame, read_image

    results = {}
    for stem in CLIPS:
        gt = np.load(ROOT / (stem + ".gt.npz"))
        for mirrored in (False, True):
            dets = clip_detections(stem, mirrored)
            W, H = dets[0].image_size
            K = Intrinsics.from_file(ROOT / (stem + ".calib.json")).resized(W, H).K(dtype=torch.float64).numpy()
            if mirrored:
                K[0, 2] = W - 1 - K[0, 2]
            results[Path(stem).name + (" (mirrored)" if mirrored else "")] = _score(
                dets, lambda h, i, gt=gt, m=mirrored, W=W: _truth(h, gt, i, m, W), K)
    if RIGHT04.is_file():
        img = read_image(RIGHT04)
        H, W = img.shape[:2]
        K = assumed_intrinsics(W, H).K(dtype=torch.float64).numpy()
        for mirrored, truth in ((False, "left"), (True, "right")):
            im = np.ascontiguousarray(img[:, ::-1]) if mirrored else img
            dets = _detect_frames([Frame(0, 0.0, im)], mode="image")
            if any(fd.hands for fd in dets):
                results["right04.jpg" + (" (mirrored)" if mirrored else "")] = _score(
                    dets, lambda h, i, t=truth: t, K)
    return results


def main():
    import json

    for name, row in run().items():
        print(name, json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
