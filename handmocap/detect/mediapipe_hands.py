"""MediaPipe's hand landmarker (Tasks API), run offline from the models inside the wheel.

mediapipe 0.10.21 ships ``palm_detection_full.tflite`` and ``hand_landmark_full.tflite``.
The Tasks `HandLandmarker` wants one ``.task`` bundle; we build it from the shipped files
in memory (`hand_landmarker_bundle`), once per process, and hand it over as a buffer:
nothing is downloaded and nothing is written outside a temporary folder.

Handedness: measured on a real photo (OpenCV's right04.jpg, a person's left hand) and its
mirror image, the Tasks API of 0.10.21 labels the TRUE hand of ordinary (non-mirrored)
footage, unlike the legacy `mp.solutions.hands`, which assumes selfie images. Footage that
is mirrored (a selfie preview recording) needs ``mirrored_input=True``.

Score: the Tasks API does not return the hand-presence score (it only drops hands below
``min_presence_confidence``), so `HandDetection.score` is the handedness classifier's
confidence, the one per-hand confidence MediaPipe exposes.
"""
from __future__ import annotations

import functools
import sys
from contextlib import contextmanager
from dataclasses import dataclass
import os
import tempfile
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import AssetError, DependencyError, HandmocapError, ShapeError
from .base import FrameDetections, HandDetection

# The wheel also ships *_lite.tflite files, but they lack the input-normalisation metadata
# the Tasks API needs ("requires specifying NormalizationOptions metadata"): full only.
MODELS = ("full",)
MODES = ("video", "image")
SEARCH_EVERY = 10  # frames between searches for more hands (video mode); see MediaPipeHandDetector


def _mediapipe():
    # glog's INFO/WARNING lines (feedback-manager chatter) are noise for our users
    os.environ.setdefault("GLOG_minloglevel", "2")
    try:
        import mediapipe
    except ImportError:
        raise DependencyError("mediapipe", "the MediaPipe hand detector") from None
    return mediapipe


def model_files(model: str = "full") -> tuple[Path, Path]:
    """(palm detector, hand landmark) .tflite paths inside the installed mediapipe."""
    if model not in MODELS:
        raise HandmocapError(f"model must be one of {MODELS}, got {model!r}")
    root = Path(_mediapipe().__file__).parent / "modules"
    palm = root / "palm_detection" / f"palm_detection_{model}.tflite"
    landmark = root / "hand_landmark" / f"hand_landmark_{model}.tflite"
    for f in (palm, landmark):
        if not f.is_file():
            raise AssetError(f, "missing from the installed mediapipe; install mediapipe==0.10.21, the "
                                "newest release that ships the hand models")
    return palm, landmark


@functools.lru_cache(maxsize=len(MODELS))
def hand_landmarker_bundle(model: str = "full") -> bytes:
    """The HandLandmarker ``.task`` bundle (a zip) built from the shipped model files."""
    from mediapipe.tasks.python.metadata.metadata_writers import model_asset_bundle_utils

    palm, landmark = model_files(model)
    with tempfile.TemporaryDirectory(prefix="handmocap-") as tmp:
        out = Path(tmp) / f"hand_landmarker_{model}.task"
        model_asset_bundle_utils.create_model_asset_bundle(
            {"hand_detector.tflite": palm.read_bytes(), "hand_landmarks_detector.tflite": landmark.read_bytes()},
            str(out))
        return out.read_bytes()


def _as_rgb(image) -> np.ndarray:
    """(H, W, 3) uint8 contiguous; grey repeated, alpha dropped."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise HandmocapError(f"frame.image: expected dtype uint8, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    elif a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if a.ndim != 3 or a.shape[2] != 3 or a.shape[0] < 1 or a.shape[1] < 1:
        raise ShapeError("frame.image", "(H, W, 3) uint8 RGB", a.shape)
    return np.ascontiguousarray(a)


@contextmanager
def _quiet_native_stderr(enabled: bool):
    """Silence MediaPipe's C++ start-up logging (absl/TFLite write straight to fd 2 before
    any log level applies). Only wraps graph creation and the first inference."""
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_wanted() -> bool:
    return os.environ.get("HANDMOCAP_MEDIAPIPE_LOGS", "") != "1"


@dataclass
class _Result:
    """The fields of MediaPipe's HandLandmarkerResult that `detect` reads."""

    hand_landmarks: list
    hand_world_landmarks: list
    handedness: list


class MediaPipeHandDetector:
    """Hand landmarks, world landmarks and handedness per frame (`HandDetector` protocol).

    Args:
        max_hands: most hands reported per frame.
        mode: "video" (tracks hands from frame to frame: faster, steadier; frames must come
            in time order) or "image" (every frame on its own).
        min_detection_confidence: palm detector threshold.
        min_presence_confidence: hand-presence threshold of the landmark model.
        min_tracking_confidence: below this, video mode re-runs palm detection.
        model: "full" (the only shipped pair the Tasks API can load).
        mirrored_input: True for mirrored (selfie-preview) footage: labels are swapped so
            they still name the person's true hand.
        search_every: video mode, max_hands > 1: while fewer hands are tracked than
            max_hands, look for more on every search_every-th frame only (1: on every
            frame, as MediaPipe does by itself). See "Searching for hands" below.

    Searching for hands (video mode): MediaPipe's landmarker reruns its palm detector on
    every frame on which it tracks fewer hands than it was asked for, so a clip with one
    visible hand and max_hands=2 costs about twice the same clip with max_hands=1. Here the
    frames go to a landmarker asked for exactly as many hands as are being tracked (palm
    detection only when a hand is lost), and every `search_every` frames an IMAGE-mode
    landmarker looks for more on the frame with the tracked hands painted over; hands it
    finds are reported and, from the next frame on, tracked by a landmarker asked for that
    many. A hand that enters while others are tracked is found within `search_every`
    frames (measured by `python -m bench.hands`); a lost hand is looked for again after
    half that.
    """

    def __init__(self, max_hands: int = 2, mode: str = "video", min_detection_confidence: float = 0.5,
                 min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 model: str = "full", mirrored_input: bool = False, search_every: int = SEARCH_EVERY):
        if int(max_hands) != max_hands or max_hands < 1:
            raise HandmocapError(f"max_hands must be a positive integer, got {max_hands!r}")
        if mode not in MODES:
            raise HandmocapError(f"mode must be one of {MODES}, got {mode!r}")
        for name, v in (("min_detection_confidence", min_detection_confidence),
                        ("min_presence_confidence", min_presence_confidence),
                        ("min_tracking_confidence", min_tracking_confidence)):
            if not 0.0 <= float(v) <= 1.0:
                raise HandmocapError(f"{name} must be in [0, 1], got {v!r}")
        if int(search_every) != search_every or search_every < 1:
            raise HandmocapError(f"search_every must be a positive integer, got {search_every!r}")
        self.search_every = int(search_every)
        self.max_hands = int(max_hands)
        self.mode = mode
        self.model = model
        self.mirrored_input = bool(mirrored_input)
        self._conf = (float(min_detection_confidence), float(min_presence_confidence),
                      float(min_tracking_confidence))
        self._bundle = hand_landmarker_bundle(model)
        self._landmarker = None
        self._last_ms = -1
        self._last_index: int | None = None
        self._open()

    def _open(self) -> None:
        self._mp = _mediapipe()
        self._landmarkers: dict[tuple[bool, int], object] = {}  # (video?, num_hands) -> HandLandmarker
        self._cold: set[tuple[bool, int]] = set()  # landmarkers that have not returned a hand yet
        self._landmarker = self._landmarker_for(self.max_hands, self.mode == "video")
        self._last_ms = -1
        self._last_index = None
        # hands the VIDEO landmarker in use is asked for: start with one, and search for more
        # as soon as it finds one (so a one-hand video runs exactly as with max_hands=1)
        self._tracked = 1 if self.search_every > 1 else self.max_hands
        self._since_search = self.search_every
        self.searches = 0  # frames searched for more hands (counts for the benchmark)

    def _landmarker_for(self, num_hands: int, video: bool):
        key = (video, num_hands)
        landmarker = self._landmarkers.get(key)
        if landmarker is None:
            from mediapipe.tasks.python import BaseOptions, vision

            running = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
            options = vision.HandLandmarkerOptions(
                base_options=BaseOptions(model_asset_buffer=self._bundle), running_mode=running,
                num_hands=num_hands, min_hand_detection_confidence=self._conf[0],
                min_hand_presence_confidence=self._conf[1], min_tracking_confidence=self._conf[2])
            with _quiet_native_stderr(_quiet_wanted()):
                landmarker = vision.HandLandmarker.create_from_options(options)
            self._landmarkers[key] = landmarker
            self._cold.add(key)
        return landmarker

    def _run(self, num_hands: int, mp_image, ms: int | None):
        """The landmarker for num_hands on one image (VIDEO mode when ms is given, else
        IMAGE); native start-up logging is silenced until a landmarker has returned hands."""
        key = (ms is not None, num_hands)
        landmarker = self._landmarker_for(num_hands, ms is not None)
        with _quiet_native_stderr(key in self._cold and _quiet_wanted()):
            result = landmarker.detect(mp_image) if ms is None else landmarker.detect_for_video(mp_image, ms)
        if result.hand_landmarks:
            self._cold.discard(key)
        return result

    def reset(self) -> None:
        """Forget the tracked hands (start of a new video)."""
        self.close()
        self._open()

    def _detect_video(self, image: np.ndarray, mp_image, ms: int):
        """One frame through the VIDEO landmarker asked for the hands tracked now; every
        `search_every` frames, also a search for more (see the class docstring)."""
        if self.search_every == 1 or self.max_hands == 1:
            return self._run(self.max_hands, mp_image, ms)
        result = self._run(self._tracked, mp_image, ms)
        found = len(result.hand_landmarks)
        if found < self._tracked:  # a hand was lost; with none left, palm detection runs anyway
            self._tracked = max(found, 1)
            self._since_search = max(self._since_search, self.search_every // 2)  # it may be back soon
        self._since_search += 1
        if 0 < found == self._tracked < self.max_hands and self._since_search >= self.search_every:
            self._since_search = 0
            self.searches += 1
            more = self._search(image, result, self.max_hands - found)
            if more is not None:
                result = more
                self._tracked = len(result.hand_landmarks)  # the next frame goes to that landmarker
        return result

    def _search(self, image: np.ndarray, tracked, num_hands: int):
        """Hands other than the tracked ones: IMAGE mode (palm detection) on the frame with
        the tracked hands painted over, so that the tracking landmarker keeps its own state
        and the search finds only new hands. Returns the tracked + new hands, or None."""
        H, W = image.shape[:2]
        masked = image.copy()
        fill = np.median(image[::16, ::16].reshape(-1, 3), axis=0).astype(np.uint8)
        for lm in tracked.hand_landmarks:
            xy = np.array([[p.x * W, p.y * H] for p in lm])
            lo, hi = xy.min(0), xy.max(0)
            pad = 0.25 * (hi - lo).max()  # the palm detector sees a bit beyond the landmarks
            x0, y0 = np.clip(np.floor(lo - pad), 0, (W, H)).astype(int)
            x1, y1 = np.clip(np.ceil(hi + pad), 0, (W, H)).astype(int)
            masked[y0:y1, x0:x1] = fill
        found = self._run(num_hands, self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=masked), None)
        if not found.hand_landmarks:
            return None
        return _Result(tracked.hand_landmarks + found.hand_landmarks,
                       tracked.hand_world_landmarks + found.hand_world_landmarks,
                       tracked.handedness + found.handedness)

    def _timestamp_ms(self, frame) -> int:
        """Strictly increasing integer milliseconds, as VIDEO mode requires."""
        ms = int(round(float(frame.timestamp_s) * 1000.0))
        if ms <= self._last_ms:  # duplicate or sub-millisecond pts: nudge forward
            ms = self._last_ms + 1
        self._last_ms = ms
        return ms

    def detect(self, frame) -> FrameDetections:
        """Detect the hands of one `Frame` (index, timestamp_s, image (H, W, 3) uint8 RGB).

        In video mode a frame whose index is not after the previous one starts a new
        sequence: tracking state is reset.
        """
        if self._landmarker is None:
            raise HandmocapError("MediaPipeHandDetector is closed")
        image = _as_rgb(frame.image)
        H, W = image.shape[:2]
        mp_image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=image)
        if self.mode == "video":
            if self._last_index is not None and int(frame.index) <= self._last_index:
                self.reset()
            self._last_index = int(frame.index)
            result = self._detect_video(image, mp_image, self._timestamp_ms(frame))
        else:
            result = self._run(self.max_hands, mp_image, None)
        hands = [self._hand(lm, wl, cat, W, H) for lm, wl, cat in
                 zip(result.hand_landmarks, result.hand_world_landmarks, result.handedness)]
        hands.sort(key=lambda h: -h.score)
        return FrameDetections(index=int(frame.index), timestamp_s=float(frame.timestamp_s),
                               hands=tuple(hands), image_size=(W, H))

    def _hand(self, landmarks, world, categories, W: int, H: int) -> HandDetection:
        # MediaPipe's normalised x*W is in pixel-corner units: -0.5 gives pixel centres
        px = np.array([[p.x * W - 0.5, p.y * H - 0.5] for p in landmarks], dtype=np.float64)
        rel = np.array([[p.x, p.y, p.z] for p in world], dtype=np.float64)
        best = max(categories, key=lambda c: c.score)
        side = best.category_name.lower()
        if self.mirrored_input:
            side = "left" if side == "right" else "right"
        score = float(best.score)
        return HandDetection(keypoints_px=px, keypoints_rel=rel, handedness=side,
                             handedness_score=score, score=score)

    def close(self) -> None:
        """Free the MediaPipe graph (idempotent)."""
        if self._landmarker is not None:
            for landmarker in self._landmarkers.values():
                landmarker.close()
            self._landmarkers = {}
            self._landmarker = None

    def __enter__(self) -> "MediaPipeHandDetector":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing left to free
            pass


def detect_video(path, detector=None, **open_frames_kwargs) -> Iterator[FrameDetections]:
    """Detections for every frame of a video, image folder or image, streamed.

    Args:
        path: the input (see `handmocap.video.open_frames`).
        detector: a `HandDetector`; a `MediaPipeHandDetector()` is made, and closed at the
            end, when None.
        **open_frames_kwargs: max_frames, stride, start_s, end_s, decoder, info.

    Raises:
        InputError: the input cannot be used (at once) or breaks off while decoding.
    """
    from ..video import open_frames

    frames = open_frames(path, **open_frames_kwargs)  # bad input fails here, before a detector is built
    return _detect_stream(frames, detector)


def _detect_stream(frames, detector) -> Iterator[FrameDetections]:
    own = detector is None
    detector = MediaPipeHandDetector() if own else detector
    try:
        for frame in frames:
            yield detector.detect(frame)
    finally:
        frames.close()
        if own:
            detector.close()
