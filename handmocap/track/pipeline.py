"""The one module that chains the stages for one input:

    frames -> detections -> tracks -> hand parameters (+ DGP translation) -> filtering -> Motion

Stills (an image, a 1-frame video) go to the stills path beside it (`track.stills`).
`track_input` returns a `Motion`; `run_batch` processes many inputs, writes the motion file
and the exports of each atomically, and keeps going when one input fails.
"""
from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ..errors import HandmocapError, InputError, OutputError
from ..motion import CameraInfo, Motion, Track
from .filters import DEPTH_CUTOFF_SCALE, DEPTH_SPEED_WEIGHT, NOISE_FLOOR_SCALE, ORIENT_BETA_SCALE

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FilterOptions:
    """Temporal smoothing (One-Euro). min_cutoff in Hz: lower = stiller when still;
    beta: higher = less lag when moving fast."""

    enabled: bool = True
    min_cutoff: float = 1.0
    beta: float = 0.5
    d_cutoff: float = 1.0
    depth_cutoff_scale: float = DEPTH_CUTOFF_SCALE  # the hand's distance: min_cutoff times this
    depth_speed_weight: float = DEPTH_SPEED_WEIGHT  # how much the distance's own speed opens the filter
    orient_beta_scale: float = ORIENT_BETA_SCALE  # the hand's orientation: beta times this
    noise_floor_scale: float = NOISE_FLOOR_SCALE  # speed counts above this times each signal's noise

    def filter_args(self) -> dict:
        """The keyword arguments of `filters.smooth_track` / `FixedLagSmoother` these options set."""
        return {k: getattr(self, k) for k in ("min_cutoff", "beta", "d_cutoff", "depth_cutoff_scale",
                                              "depth_speed_weight", "orient_beta_scale", "noise_floor_scale")}


@dataclass(frozen=True)
class TrackOptions:
    """Everything that changes what `track_input` computes.

    intrinsics: an `Intrinsics`, a calibration file path, a horizontal FOV in degrees
        (float), or None: per input, a sidecar `NAME.calib.json`, a photo's EXIF, else the
        weak-perspective fallback (`camera.source`).
    camera_files: with intrinsics None, look for the sidecar calibration and EXIF (False:
        straight to the assumed camera).
    hands: "both", "left" or "right".
    hand_length_m: known wrist-to-middle-fingertip length; fixes scale and depth.
    estimator: "model" (the learned keypoint model, default) or "fitting" (per-frame fitting).
    refine: run fitting after the model, starting from its prediction.
    read_ahead: frames decoded ahead in a background thread while the detector works
        (0: none). Changes speed only, never results.
    still_views: stills only: MediaPipe takes a second look at each hand it finds
        (`track.stills.SECOND_LOOK`), and where the plain image gives no hand it looks at
        further views of it (padded, mirrored, turned, zoomed tiles); a classifier over the
        label and the keypoints decides each hand's side (`track.stills.still_hands`); False:
        one plain look, the detector's label.
    overlap: run the stages after detection (tracks, estimation, smoothing, the streamed
        preview) in a second thread, a bounded number of frames behind the detector
        (`track.stream`). Changes speed only, never results.
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
    stream: int | None = None  # video stream index (ffprobe's #0:N); None: the one ffmpeg picks
    camera_files: bool = True
    read_ahead: int = 4  # frames decoded ahead of the detector in a thread (0: decode in line)
    still_views: bool = True
    overlap: bool = True  # the lagged stages in a second thread while the detector runs


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
    fatal: bool = False  # the output folder failed (full, read-only): later inputs would too
    note: str | None = None  # e.g. which of several video streams was tracked
    still: dict | None = None  # a still's summary.jsonl line (`track.stills.still_record`)

    def summary(self) -> str:
        name = self.path.name or str(self.path)
        if self.skipped:
            return f"{name}: skipped (already done; --overwrite to redo)"
        if not self.ok:
            error = self.error or "failed"
            # the error usually starts with the path already: do not repeat it
            for prefix in (f"{self.path}: ", f"{name}: "):
                if error.startswith(prefix):
                    error = error[len(prefix):]
                    break
            return f"{name}: FAILED: {error}"
        if self.still is not None:
            hands = ", ".join(f"{h['side']} {h['score']:.2f}" for h in self.still["hands"]) or "none"
            reproj = f", mean reprojection {self.reprojection_px:.1f} px" if self.still["hands"] else ""
            return f"{name}: still, hands: {hands}, camera {self.still['camera']['source']}{reproj}"
        fps = self.frames / self.seconds if self.seconds else 0.0
        return (f"{name}: {self.frames} frames, hands found on {100 * self.hands_found:.0f}%, "
                f"mean reprojection {self.reprojection_px:.1f} px, {fps:.1f} frames/s"
                + (f", {self.note}" if self.note else ""))


def resolve_camera(intrinsics, width: int, height: int, path=None, per_file: bool = True):
    """Intrinsics for a video of size (width, height), and how they were obtained
    (`camera.source.resolve_camera` without the detail).

    Returns (Intrinsics, model, source): model "perspective" when known, else
    "weak_perspective" with the documented assumed focal length.
    """
    from ..camera.source import resolve_camera as resolve

    cam = resolve(intrinsics, width, height, path, per_file=per_file)
    return cam.intrinsics, cam.model, cam.source


def _estimator(options: TrackOptions):
    if options.estimator == "fitting":
        from ..solve.fitting import fit_track

        return fit_track
    if options.estimator == "model":
        from ..nn.estimator import estimate_track

        return estimate_track
    raise InputError(None, f"unknown estimator {options.estimator!r} (use 'fitting' or 'model')")


def track_input(path: str | Path, options: TrackOptions = TrackOptions(), detector=None,
                progress: Callable[[int, int], None] | None = None, preview_to: Path | None = None) -> Motion:
    """Track every hand of one video, image folder or image.

    Args:
        path: input file or folder.
        options: see `TrackOptions`.
        detector: a `HandDetector`; a MediaPipe one is made (and closed) when None.
        progress: called as progress(frames_done, frames_total) while decoding.
        preview_to: write the preview MP4 here while tracking, from the frames the detector
            saw (no second decode), when the input allows it (a video, stride 1, the model
            estimator); the file exists afterwards only then (`export.preview`).

    Returns:
        The `Motion` (not yet written).
    """
    import cv2
    import torch

    from ..camera.source import resolve_camera as camera_for
    from ..detect.mediapipe_hands import MediaPipeHandDetector
    from ..hand import HandModel
    from ..solve.fitting import _cpu_threads
    from ..video import IMAGE_EXTENSIONS, open_frames, prefetch, probe_once
    from .jobs import usable_cpus
    from .stream import FeedThread

    path = Path(path)
    if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS:
        from .stills import track_still

        return track_still(path, options, detector)
    info = probe_once(path, stream=options.stream)
    if info.num_frames == 1:  # a 1-frame video (or image folder) is a still
        from .stills import track_still

        return track_still(path, options, detector, info=info)
    cam = camera_for(options.intrinsics, info.width, info.height, path, per_file=options.camera_files)
    intr, cam_model, cam_source = cam.intrinsics, cam.model, cam.source
    K = intr.K(dtype=torch.float64).numpy()
    streamed = preview_to is not None and options.stride == 1 and options.estimator == "model"
    tracker, preview, drawer, consume = _lagged_stages(options, intr, cam_model, K, info, preview_to if streamed else None)
    own_detector = detector is None
    # decoded while detecting, by a decoder thread per core but the detector's: OpenCV's default
    # of one per core competed with the detector (2 cores, 1440x1080: 12% faster in all with one).
    # Opened first: the first frames decode while MediaPipe builds its graphs
    frames = open_frames(path, max_frames=options.max_frames, stride=options.stride, info=info,
                         decoder_threads=max(1, usable_cpus() - 1) if options.read_ahead else None)
    if options.read_ahead:
        frames = prefetch(frames, options.read_ahead)
    try:
        # one hand asked for: max_hands=1 halves detector time (palm detection stops rerunning)
        detector = detector or MediaPipeHandDetector(max_hands=2 if options.hands == "both" else 1)
    except BaseException:  # no graph: end what is already running
        frames.close()
        if drawer is not None:
            drawer.abort()
        if preview is not None:
            preview.close()
        raise
    feed = FeedThread(consume) if options.overlap else None
    # the lagged stages run many small torch ops: one intra-op thread is ~20x faster than two
    # beside the detector on 2 cores, and in line and overlapped then compute alike
    settings = ExitStack()  # undone in `finally`
    settings.enter_context(_cpu_threads(torch.device(options.device)))
    if options.overlap:  # likewise OpenCV's resizing and colour conversion beside the detector
        settings.callback(cv2.setNumThreads, cv2.getNumThreads())
        cv2.setNumThreads(1)
    try:
        done = 0
        for frame in frames:
            item = (detector.detect(frame), frame.image if preview is not None else None)
            feed.put(item) if feed is not None else consume(item)
            done += 1
            if progress:
                progress(done, info.num_frames)
        if own_detector:  # its graphs go back to the process's pool while the last frames are drawn
            detector.close()
        if feed is not None:
            feed.finish()
        if not tracker.fed:
            raise InputError(path, "no frames could be decoded")
        tracks = tracker.finish()
        if options.estimator != "model":
            tracks = _estimate_whole(tracks, options, intr, cam_model, K)
        if drawer is not None:
            drawer.finish()
        if preview is not None:
            preview.finish()
    except BaseException:
        for thread in (feed, drawer):
            if thread is not None:
                thread.abort()
        raise
    finally:
        settings.close()
        frames.close()  # ends the decoder (thread and process) also on errors and Ctrl-C
        if own_detector:
            detector.close()
        if preview is not None:
            preview.close()
    camera = CameraInfo(model=cam_model, K=tuple(map(tuple, K.tolist())), source=cam_source,
                        image_size=(info.width, info.height))
    return Motion(source=str(path), fps=float(info.fps), num_frames=tracker.fed,
                  image_size=(info.width, info.height), camera=camera,
                  hand_model_id=HandModel(options.hand_model).model_id, tracks=tracks,
                  estimator=options.estimator + ("+refine" if options.refine else ""),
                  extra={"hands_found": tracker.with_hand / tracker.fed, "stride": options.stride,
                         "rotation_deg": info.rotation_deg, "video_stream": info.stream_index,
                         "video_streams": info.video_streams,
                         "hand_length_m": options.hand_length_m, "camera_detail": cam.detail})


def _lagged_stages(options: TrackOptions, intr, cam_model: str, K, info, preview_to: Path | None):
    """The `stream.LaggedTracker` for one input, the streamed preview and the thread that draws
    it (or None), and the function that takes (FrameDetections, image or None) items in frame order."""
    from ..hand import HandModel
    from .stream import FeedThread, LaggedTracker

    hands = {}

    def hand(side: str):
        if side not in hands:
            hands[side] = HandModel(options.hand_model, side=side)
        return hands[side]

    new_estimator = None
    if options.estimator == "model":
        from ..nn.estimator import TrackEstimator

        def new_estimator(side: str):
            return TrackEstimator(K if cam_model == "perspective" else None, side, hand(side),
                                  hand_length_m=options.hand_length_m, device=options.device, refine=options.refine,
                                  intrinsics=intr), hand(side)
    elif options.estimator != "fitting":
        raise InputError(None, f"unknown estimator {options.estimator!r} (use 'fitting' or 'model')")
    smoothing = options.smoothing if options.estimator == "model" else None
    if preview_to is None:
        tracker = LaggedTracker(K, new_estimator, hands=options.hands, smoothing=smoothing)
        return tracker, None, None, lambda item: tracker.feed(item[0])
    import cv2

    from ..export.preview import PreviewWriter, preview_camera

    Wp, Hp, Kp, scale, shift = preview_camera(K, info.width, info.height)
    preview = PreviewWriter(preview_to, Wp, Hp, float(info.fps), Kp, options.hand_model)
    images = {}  # frame index -> preview-sized image, until the frame is final (bounded by the lag)

    # drawing in a third thread: while the detector runs, the two share a core with the
    # tracker; once it is done, the last frames are tracked and drawn on both cores
    drawer = FeedThread(lambda item: preview.write(*item), depth=16, name="handmocap-preview-draw") \
        if options.overlap else None

    def draw(index: int, frame_hands) -> None:
        item = (images.pop(index), [(h.track_id, h.side, h.detected, h.keypoints_px * scale + shift, h.vertices_cam)
                                    for h in frame_hands])
        drawer.put(item) if drawer is not None else preview.write(*item)

    tracker = LaggedTracker(K, new_estimator, hands=options.hands, smoothing=smoothing, on_frame=draw, vertices=hand)

    def consume(item) -> None:
        fd, image = item
        if image.shape[:2] != (Hp, Wp):
            # a whole factor (`preview_size`): the box average is OpenCV's fast path
            image = cv2.resize(image, (Wp, Hp), interpolation=cv2.INTER_AREA)
        images[fd.index] = np.ascontiguousarray(image) if image.flags.writeable else image.copy()
        tracker.feed(fd)

    return tracker, preview, drawer, consume


def _estimate_whole(raw_tracks, options: TrackOptions, intr, cam_model: str, K) -> list:
    """The fitting estimator on whole tracks (it fits a track's shape over all its frames)."""
    from ..hand import HandModel

    estimate = _estimator(options)
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
    return tracks


def _smooth(fit, timestamps, opts: FilterOptions, hand, K):
    """Filter the fitted parameters over time (rotations on the manifold) and recompute the
    outputs that depend on them, so the motion file stays self-consistent."""
    if not opts.enabled or len(timestamps) < 3:
        return fit
    from .filters import smooth_track

    return smooth_track(fit, timestamps, hand, K, **opts.filter_args())


def output_stem(out_dir: Path, path: Path, root: Path | None = None) -> Path:
    """Where the outputs of `path` go: mirrors the input's place below `root` in `out_dir`."""
    rel = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    stem = rel.with_suffix("") if path.is_file() else rel
    return out_dir / stem


def process_input(path: Path, out_dir: Path, options: TrackOptions, exports: Iterable[str],
                  overwrite: bool = False, root: Path | None = None, detector=None,
                  progress=None, final_dir: Path | None = None) -> InputResult:
    """Track one input and write its motion file + exports. Never raises for bad input.

    final_dir: the output folder the files end up in when a caller moves them from
    `out_dir` itself (a cluster task's staging folder); default `out_dir`.

    The exports are written into a hidden staging folder and moved into place together
    once all are complete, the motion file last (see `track.outputs`). On any failure,
    and on `Interrupted`, the staging folder is removed (Interrupted is re-raised).
    """
    from ..export import export_motion
    from ..motion import motion_paths, save_motion
    from .errorlog import record_internal_error
    from .outputs import begin_outputs, discard_partial, is_output_error, output_error, publish_outputs

    t0 = time.perf_counter()
    stem = output_stem(out_dir, path, root)
    npz_path, _ = motion_paths(stem)
    if npz_path.exists() and not overwrite:
        discard_partial(stem)
        return InputResult(path, ok=True, skipped=True, outputs={"motion": [npz_path]},
                           still=_done_still(npz_path, path))

    def failed(error: str, fatal: bool = False) -> InputResult:
        discard_partial(stem)
        return InputResult(path, ok=False, error=(error.splitlines() or ["failed"])[0], fatal=fatal,
                           seconds=time.perf_counter() - t0)

    try:
        exports = list(exports)
        staging = begin_outputs(stem)
        preview = staging / f"{stem.name}.preview.mp4"
        motion = track_input(path, options, detector=detector, progress=progress,
                             preview_to=preview if "preview" in exports else None)
        streamed = ["preview"] if preview.exists() else []  # drawn while tracking
        outputs = export_motion(motion, [f for f in exports if f not in streamed], staging, stem.name, video=path)
        outputs.update({f: [preview] for f in streamed})
        # the motion file is written (and moved into place) last: it marks the input done
        final_stem = stem if final_dir is None else output_stem(final_dir, path, root)
        outputs["motion"] = [save_motion(motion, staging / stem.name, final_path=final_stem)]
        outputs = publish_outputs(staging, stem, outputs)
    except OutputError as exc:
        return failed(str(exc), fatal=True)
    except HandmocapError as exc:
        return failed(str(exc))
    except OSError as exc:
        if is_output_error(exc, out_dir):
            return failed(str(output_error(exc, stem.parent)), fatal=True)
        where = f" ({exc.filename})" if exc.filename else ""
        return failed(f"{path}: {(exc.strerror or str(exc) or type(exc).__name__).lower()}{where}")
    except Exception as exc:  # a bug must not stop the batch: one line, traceback logged
        return failed(f"{path}: {record_internal_error(exc, str(path))}")
    except BaseException:  # Interrupted (Ctrl-C, SIGTERM): leave nothing half-written
        discard_partial(stem)
        raise
    reproj = [t.reprojection_px[t.detected] for t in motion.tracks if np.any(t.detected)]
    streams = int(motion.extra.get("video_streams") or 1)
    note = (f"video stream #0:{motion.extra.get('video_stream')} of {streams} video streams"
            if streams > 1 else None)
    still = None
    if motion.is_still:
        from .stills import still_record

        still = still_record(motion, path, outputs, base=stem.parent)
    return InputResult(path, ok=True, outputs=outputs, frames=motion.num_frames,
                       hands_found=motion.extra["hands_found"],
                       reprojection_px=float(np.mean(np.concatenate(reproj))) if reproj else float("nan"),
                       seconds=time.perf_counter() - t0, note=note, still=still)


def _done_still(npz_path: Path, path: Path) -> dict | None:
    """The summary line of a still tracked by an earlier run (resume), else None."""
    import json

    from ..motion import load_motion, motion_paths

    try:  # the small JSON sidecar first: a long video's arrays are not loaded for nothing
        if json.loads(motion_paths(npz_path)[1].read_text()).get("num_frames") != 1:
            return None
    except (OSError, ValueError):
        pass
    try:
        motion = load_motion(npz_path)
    except HandmocapError:
        return None
    if not motion.is_still:
        return None
    from .stills import still_record

    return still_record(motion, path)
