"""Stills: a photo, each photo of a photo folder, or a 1-frame video, tracked on its own.

    image -> MediaPipe in IMAGE mode (nothing carried over from other images)
          -> every hand found is a one-frame track
          -> hand parameters (the video path's estimators) + DGP translation -> Motion

The video path's association, minimum track length and temporal smoothing are meaningless
for one picture and are not used. The motion file has the video schema (frame 0, one row
per track), so `load_motion`, `handmocap info` / `export` and the Blender add-on read it
unchanged; `Motion.is_still` tells the exporters to write a posed GLB, one OBJ and a PNG.

    motion = track_still("photo.jpg")                     # handmocap.track_still
    record = still_record(motion, "photo.jpg")            # one summary.jsonl line
"""
from __future__ import annotations

import functools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..motion import CameraInfo, Motion, Track
from .pipeline import TrackOptions, _estimator

SUMMARY_NAME = "summary.jsonl"
# measured on 470 TRAIN renders (python -m bench.still_recall): the retries, tried in turn where
# the plain image gives no hand, find the view's hand on 85.3% of stills against 74.5% (2.4
# detector calls per still on average; 30 hands on no GT hand against 21). Views run on every
# still as well (e.g. mirror and turns: 86.0%) cost twice as much for 0.7 points.
STILL_EVIDENCE: tuple = ()
STILL_RETRIES = ("pad", "flip", "rot90", "rot270", "rot180", "tiles")
# the stills' handedness classifier (`still_side`) against MediaPipe's label of the view that
# found the hand (python -m training.still_side): 86.1% / 84.4% cross-validated on the
# committed TRAIN detections, 89.2% / 85.5% on later TRAIN renders held out
SIDE_CLASSIFIER = True
# MediaPipe's second look at each hand (`MediaPipeHandDetector(second_look=True)`), measured through
# this photos mode on 330 TRAIN renders of 33 subjects seen nowhere else (render chunks 167-199):
# hands found 84.8 -> 86.4%, handedness right 86.8 -> 91.6%, PA-MPJPE 18.9 -> 17.4 mm, CS-MJE with
# the true hand length 71.2 -> 64.1 mm; 39 -> 66 ms a still
SECOND_LOOK = True


def image_detector(second_look: bool | None = None):
    """The process's MediaPipe detector in IMAGE mode (stateless between images, so one
    serves every still; building a graph per photo would cost more than detecting).
    second_look: None: `SECOND_LOOK`."""
    return _image_detector(SECOND_LOOK if second_look is None else bool(second_look))


@functools.lru_cache(maxsize=2)
def _image_detector(second_look: bool):
    from ..detect.mediapipe_hands import MediaPipeHandDetector

    return MediaPipeHandDetector(max_hands=2, mode="image", second_look=second_look)


def read_still(path: str | Path, info=None):
    """(image (H, W, 3) uint8 RGB upright, frame index, timestamp_s, fps, is_photo) of a
    still: an image file, or the first frame of a 1-frame video or image folder."""
    from ..video import IMAGE_EXTENSIONS, IMAGE_FPS, open_frames, read_image

    path = Path(path)
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        return read_image(path), 0, 0.0, IMAGE_FPS, True
    # a 1-frame video / folder: its frame 0 (the motion's frame_index must index the input)
    frames = open_frames(path, max_frames=1, info=info)
    try:
        frame = next(iter(frames), None)
    finally:
        frames.close()
    if frame is None:
        raise InputError(path, "no frames could be decoded")
    return frame.image, int(frame.index), float(frame.timestamp_s), float(info.fps if info else IMAGE_FPS), False


def still_hands(detector, image: np.ndarray, classify_sides: bool | None = None) -> list:
    """The hands of one image, found in several views.

    MediaPipe looks at the plain image and the `STILL_EVIDENCE` views (hands found there
    count too); where no view finds a hand, the `STILL_RETRIES` views in turn
    (`detect.retry.detect_still`). A hand's side is MediaPipe's label in the view that
    found it, or, with `classify_sides`, what the stills' classifier makes of that label and
    the detection's 2D / 3D keypoints (`still_side`; two hands of one image then take
    different sides).

    Args:
        detector: a MediaPipe detector in IMAGE mode.
        image: (H, W, 3) uint8 RGB.
        classify_sides: None: `SIDE_CLASSIFIER`.

    Returns:
        `HandDetection`s (keypoints in `image`'s pixels), at most the detector's max_hands.
    """
    from ..detect.retry import detect_still

    found = detect_still(detector, image, STILL_RETRIES, STILL_EVIDENCE, getattr(detector, "max_hands", 2))
    if not (SIDE_CLASSIFIER if classify_sides is None else classify_sides):
        return list(found.hands)
    from .still_side import decide_sides, side_inputs, side_logit

    logits = [float(side_logit(side_inputs(h.keypoints_px, h.keypoints_rel, h.handedness, h.handedness_score)))
              for h in found.hands]
    sides = decide_sides(logits)
    return [h if s == h.handedness else replace(h, handedness=s, handedness_score=float(1 / (1 + np.exp(-abs(v)))))
            for h, s, v in zip(found.hands, sides, logits)]


def track_still(path: str | Path | np.ndarray, options: TrackOptions = TrackOptions(), detector=None,
                info=None) -> Motion:
    """Every hand of one still, each a one-frame track.

    Args:
        path: an image, or a video / image folder with one frame; or the image itself,
            (H, W, 3) uint8 RGB (no sidecar or EXIF then: give `options.intrinsics`).
        options: `TrackOptions` (smoothing, stride and max_frames do not apply).
        detector: a `HandDetector`; a VIDEO-mode MediaPipe detector is replaced by the
            process's IMAGE-mode one (`image_detector`).
        info: the input's `VideoInfo` when already probed (1-frame videos).

    Returns:
        The `Motion` (num_frames 1, not yet written).

    Raises:
        InputError: the file cannot be read as an image / video (one line, naming it).
    """
    import torch

    from ..camera.source import resolve_camera
    from ..hand import cached_hand_model
    from ..video.decode import Frame
    from .associate import drop_duplicate_hands

    if isinstance(path, np.ndarray):
        from ..video import IMAGE_FPS

        if path.ndim != 3 or path.shape[2] != 3 or path.dtype != np.uint8 or 0 in path.shape:
            raise InputError(None, f"image: expected (H, W, 3) uint8 RGB, got {path.shape} {path.dtype}")
        image, index, timestamp, fps, is_photo = path, 0, 0.0, IMAGE_FPS, False
        path = Path("<array>")
        options = replace(options, camera_files=False)
    else:
        path = Path(path)
        image, index, timestamp, fps, is_photo = read_still(path, info)
    H, W = image.shape[:2]
    cam = resolve_camera(options.intrinsics, W, H, path, per_file=options.camera_files, is_photo=is_photo)
    if detector is None or getattr(detector, "mode", "image") != "image":
        detector = image_detector(None if options.still_views else False)
    if options.still_views and getattr(detector, "mode", None) == "image":
        hands = still_hands(detector, image)
    else:  # MediaPipe's label as it is (a detector that is not stateless between images sees one view)
        hands = drop_duplicate_hands(detector.detect(Frame(index=index, timestamp_s=timestamp, image=image)).hands)
    hands = [h for h in hands if options.hands in ("both", h.handedness)]
    hands.sort(key=lambda h: (h.handedness != "right", -float(h.score)))  # right first, as videos
    estimate = _estimator(options)
    perspective = cam.model == "perspective"
    K = cam.intrinsics.K(dtype=torch.float64).numpy()
    tracks = []
    for k, h in enumerate(hands):
        hand = cached_hand_model(options.hand_model, h.handedness)
        score = np.float32(h.score)
        fit = estimate(np.asarray(h.keypoints_px, np.float32)[None], np.asarray(h.keypoints_rel, np.float32)[None],
                       np.full((1, 21), score, np.float32), K if perspective else None, h.handedness, hand,
                       hand_length_m=options.hand_length_m, device=options.device, batch_size=1,
                       refine=options.refine, intrinsics=cam.intrinsics)
        tracks.append(Track(
            track_id=k, side=h.handedness, frame_index=np.array([index]), timestamp_s=np.array([timestamp]),
            global_orient=fit.global_orient, hand_pose=fit.hand_pose, betas=fit.betas, transl=fit.transl,
            keypoints_px=np.asarray(h.keypoints_px)[None], keypoints_cam=fit.keypoints_cam,
            keypoints_rel=np.asarray(h.keypoints_rel)[None], confidence=fit.confidence,
            score=np.array([score]), detected=np.array([True]), reprojection_px=fit.reprojection_px))
    camera = CameraInfo(model=cam.model, K=tuple(map(tuple, K.tolist())), source=cam.source, image_size=(W, H))
    return Motion(source=str(path), fps=fps, num_frames=1, image_size=(W, H), camera=camera,
                  hand_model_id=cached_hand_model(options.hand_model, "right").model_id, tracks=tracks,
                  estimator=options.estimator + ("+refine" if options.refine else ""),
                  extra={"still": True, "hands_found": float(bool(tracks)), "stride": 1,
                         "rotation_deg": int(getattr(info, "rotation_deg", 0) or 0),
                         "hand_length_m": options.hand_length_m, "camera_detail": cam.detail})


def still_record(motion: Motion, path: str | Path, outputs: dict | None = None, base: str | Path | None = None) -> dict:
    """One line of summary.jsonl for a tracked still: the file, its camera and every hand
    (side, detector score, camera-space translation and wrist, reprojection error), and the
    files written (`outputs`, relative to `base`, the summary's folder, when given)."""
    import os

    K = motion.camera.matrix
    hands = []
    for t in motion.tracks:
        hands.append({"track_id": t.track_id, "side": t.side, "score": round(float(t.score[0]), 6),
                      "transl": [float(x) for x in t.transl[0]],
                      "wrist_cam": [float(x) for x in t.keypoints_cam[0, 0]],
                      "reprojection_px": round(float(t.reprojection_px[0]), 4)})
    record = {"file": str(path), "ok": True, "image_size": list(motion.image_size),
              "camera": {"source": motion.camera.source, "model": motion.camera.model,
                         "fx": float(K[0, 0]), "fy": float(K[1, 1]), "cx": float(K[0, 2]), "cy": float(K[1, 2]),
                         **motion.extra.get("camera_detail", {})},
              "hands": hands}
    if outputs:
        record["outputs"] = {fmt: [os.path.relpath(p, base) if base is not None else str(p) for p in paths]
                             for fmt, paths in outputs.items()}
    return record


def error_record(path: str | Path, error: str) -> dict:
    """The summary.jsonl line of a still that failed."""
    return {"file": str(path), "ok": False, "error": error}


def write_summary(folder: str | Path, records: list[dict]) -> Path:
    """Write `folder/summary.jsonl` atomically: the lines already there for other files are
    kept, the given `records` replace those of their files (a resumed photo keeps its
    earlier "outputs"); sorted by file name."""
    from ..export.mesh import write_atomic
    from ..video.probe import natural_key

    path = Path(folder) / SUMMARY_NAME
    lines: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                old = json.loads(line)
                lines[str(old["file"])] = old
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a damaged line is dropped: its photo is in this run or lost anyway
    for r in records:
        old = lines.get(str(r["file"]), {})
        if r.get("ok") and "outputs" not in r and "outputs" in old:  # resumed: the files are still there
            r = {**r, "outputs": old["outputs"]}
        lines[str(r["file"])] = r
    order = sorted(lines, key=lambda f: natural_key(Path(f)) + [f])
    text = "".join(json.dumps(lines[f], ensure_ascii=False) + "\n" for f in order)
    return write_atomic(path, text.encode("utf-8"))


__all__ = ["SIDE_CLASSIFIER", "STILL_EVIDENCE", "STILL_RETRIES", "SUMMARY_NAME", "error_record", "image_detector", "read_still",
           "still_hands", "still_record", "track_still", "write_summary"]
