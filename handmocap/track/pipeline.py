"""The one module that chains the stages for one input:

    frames -> detections -> tracks -> hand parameters (+ DGP translation) -> filtering -> Motion

`track_input` returns a `Motion`; `run_batch` processes many inputs, writes the motion file
and the exports of each atomically, and keeps going when one input fails.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import HandmocapError, InputError
from ..motion import CameraInfo, Motion, Track

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterOptions:
    """Temporal smoothing (One-Euro). min_cutoff in Hz: lower = stiller when still;
    beta: higher = less lag when moving fast."""

    enabled: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.5
    d_cutoff: float = 1.0


@dataclass(frozen=True)
class TrackOptions:
    """Everything that changes what `track_input` computes.

    intrinsics: an `Intrinsics`, a calibration file path, a horizontal FOV in degrees
        (float), or None for unknown intrinsics (weak-perspective fallback).
    hands: "both", "left" or "right".
    hand_length_m: known wrist-to-middle-fingertip length; fixes scale and depth.
    estimator: "model" (the learned keypoint model, default) or "fitting" (per-frame fitting).
    refine: run fitting after the model, starting from its prediction.
    """

    intrinsics: object = None
    hands: str = "both"
    hand_length_m: float | None = None
    estimator: str = "model"
    refine: bool = False
    device: str = "cpu"
    batch_size: int = 256
    max_frames: int | None = None
    stride: int = 1
    smoothing: FilterOptions = field(default_factory=FilterOptions)
    hand_model: str | None = None


@dataclass
class InputResult:
    """What happened to one input of a batch."""

    path: Path
    ok: bool
    outputs: dict = field(default_factory=dict)
    error: str | None = None
    frames: int = 0
    hands_found: float = 0.0  # share of frames with at least one detected hand
    reprojection_px: float = float("nan")
    seconds: float = 0.0
    skipped: bool = False

    def summary(self) -> str:
        name = self.path.name
        if self.skipped:
            return f"{name}: skipped (already done; --overwrite to redo)"
        if not self.ok:
            return f"{name}: FAILED: {self.error}"
        fps = self.frames / self.seconds if self.seconds else 0.0
        return (f"{name}: {self.frames} frames, hands found on {100 * self.hands_found:.0f}%, "
                f"mean reprojection {self.reprojection_px:.1f} px, {fps:.1f} frames/s")


def resolve_camera(intrinsics, width: int, height: int):
    """Intrinsics for a video of size (width, height), and how they were obtained.

    Returns (Intrinsics, model, source): model "perspective" when known, else
    "weak_perspective" with the documented assumed focal length.
    """
    from ..camera.intrinsics import Intrinsics
    from ..camera.weak_perspective import assumed_intrinsics

    if intrinsics is None:
        return assumed_intrinsics(width, height), "weak_perspective", "assumed"
    if isinstance(intrinsics, Intrinsics):
        return intrinsics.resized(width, height), "perspective", "given"
    if isinstance(intrinsics, (int, float)):
        return Intrinsics.from_fov(float(intrinsics), width, height), "perspective", "fov"
    return Intrinsics.from_file(intrinsics).resized(width, height), "perspective", "calibration"


def _estimator(options: TrackOptions):
    if options.estimator == "fitting":
        from ..solve.fitting import fit_track

        return fit_track
    if options.estimator == "model":
        from ..nn.estimator import estimate_track

        return estimate_track
    raise InputError(None, f"unknown estimator {options.estimator!r} (use 'fitting' or 'model')")


def track_input(path: str | Path, options: TrackOptions = TrackOptions(), detector=None,
                progress: Callable[[int, int], None] | None = None) -> Motion:
    """Track every hand of one video, image folder or image.

    Args:
        path: input file or folder.
        options: see `TrackOptions`.
        detector: a `HandDetector`; a MediaPipe one is made (and closed) when None.
        progress: called as progress(frames_done, frames_total) while decoding.

    Returns:
        The `Motion` (not yet written).
    """
    import torch

    from ..detect.mediapipe_hands import MediaPipeHandDetector
    from ..hand import HandModel
    from ..track.associate import associate_tracks
    from ..track.handedness import relabel_tracks
    from ..video import open_frames, probe

    path = Path(path)
    info = probe(path)
    intr, cam_model, cam_source = resolve_camera(options.intrinsics, info.width, info.height)
    own_detector = detector is None
    # one hand asked for: max_hands=1 halves detector time (palm detection stops rerunning)
    detector = detector or MediaPipeHandDetector(max_hands=2 if options.hands == "both" else 1)
    detections = []
    try:
        for frame in open_frames(path, max_frames=options.max_frames, stride=options.stride, info=info):
            detections.append(detector.detect(frame))
            if progress:
                progress(len(detections), info.num_frames)
    finally:
        if own_detector:
            detector.close()
    if not detections:
        raise InputError(path, "no frames could be decoded")
    raw_tracks = associate_tracks(detections)
    raw_tracks = relabel_tracks(raw_tracks, intr.K(dtype=torch.float64).numpy())  # label vs 3D evidence
    if options.hands != "both":
        raw_tracks = [t for t in raw_tracks if t.side == options.hands]
    estimate = _estimator(options)
    K = intr.K(dtype=torch.float64).numpy()
    tracks = []
    for k, raw in enumerate(raw_tracks):
        hand = HandModel(options.hand_model, side=raw.side)
        fit = estimate(raw.keypoints_px, raw.keypoints_rel, raw.scores, K if cam_model == "perspective" else None,
                       raw.side, hand, hand_length_m=options.hand_length_m, device=options.device,
                       batch_size=options.batch_size, refine=options.refine, intrinsics=intr)
        fit = _smooth(fit, raw.timestamp_s, options.smoothing, hand, K)
        tracks.append(Track(
            track_id=k, side=raw.side, frame_index=raw.frame_index, timestamp_s=raw.timestamp_s,
            global_orient=fit.global_orient, hand_pose=fit.hand_pose, betas=fit.betas, transl=fit.transl,
            keypoints_px=raw.keypoints_px, keypoints_cam=fit.keypoints_cam, keypoints_rel=raw.keypoints_rel,
            confidence=fit.confidence, score=raw.score, detected=raw.detected,
            reprojection_px=fit.reprojection_px))
    camera = CameraInfo(model=cam_model, K=tuple(map(tuple, K.tolist())), source=cam_source,
                        image_size=(info.width, info.height))
    hands_found = float(np.mean([len(d.hands) > 0 for d in detections]))
    return Motion(source=str(path), fps=float(info.fps), num_frames=len(detections),
                  image_size=(info.width, info.height), camera=camera,
                  hand_model_id=HandModel(options.hand_model).model_id, tracks=tracks,
                  estimator=options.estimator + ("+refine" if options.refine else ""),
                  extra={"hands_found": hands_found, "stride": options.stride,
                         "rotation_deg": info.rotation_deg,
                         "hand_length_m": options.hand_length_m})


def _smooth(fit, timestamps, opts: FilterOptions, hand, K):
    """Filter the fitted parameters over time (rotations on the manifold) and recompute the
    outputs that depend on them, so the motion file stays self-consistent."""
    if not opts.enabled or len(timestamps) < 3:
        return fit
    from .filters import smooth_track

    return smooth_track(fit, timestamps, hand, K, min_cutoff=opts.min_cutoff, beta=opts.beta,
                        d_cutoff=opts.d_cutoff)


def output_stem(out_dir: Path, path: Path, root: Path | None = None) -> Path:
    """Where the outputs of `path` go: mirrors the input's place below `root` in `out_dir`."""
    rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    stem = rel.with_suffix("") if path.is_file() else rel
    return out_dir / stem


def process_input(path: Path, out_dir: Path, options: TrackOptions, exports: Iterable[str],
                  overwrite: bool = False, root: Path | None = None, detector=None,
                  progress=None) -> InputResult:
    """Track one input and write its motion file + exports. Never raises for bad input."""
    from ..export import export_motion
    from ..motion import motion_paths, save_motion

    t0 = time.perf_counter()
    stem = output_stem(out_dir, path, root)
    npz_path, _ = motion_paths(stem)
    if npz_path.exists() and not overwrite:
        return InputResult(path, ok=True, skipped=True, outputs={"motion": [npz_path]})
    try:
        motion = track_input(path, options, detector=detector, progress=progress)
        stem.parent.mkdir(parents=True, exist_ok=True)
        outputs = export_motion(motion, list(exports), stem.parent, stem.name, video=path)
        # the motion file is written last: its presence marks the input as done (resume)
        outputs["motion"] = [save_motion(motion, stem)]
    except HandmocapError as exc:
        return InputResult(path, ok=False, error=str(exc).splitlines()[0],
                           seconds=time.perf_counter() - t0)
    except Exception as exc:  # a bug must not stop the batch; keep the message short
        log.exception("unexpected failure on %s", path)
        return InputResult(path, ok=False, error=f"{path}: internal error: {type(exc).__name__}: {exc}",
                           seconds=time.perf_counter() - t0)
    reproj = [t.reprojection_px[t.detected] for t in motion.tracks if np.any(t.detected)]
    return InputResult(path, ok=True, outputs=outputs, frames=motion.num_frames,
                       hands_found=motion.extra["hands_found"],
                       reprojection_px=float(np.mean(np.concatenate(reproj))) if reproj else float("nan"),
                       seconds=time.perf_counter() - t0)
