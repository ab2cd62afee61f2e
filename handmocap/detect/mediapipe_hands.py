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

import atexit
import functools
import sys
import threading
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
# after one of several tracked hands is lost, search on this many frames in a row: on the people
# set's TRAIN two-hand clips hands found 82.7 / 91.1 / 93.9 -> 86.3 / 94.6 / 93.9% (10: the same)
LOST_SEARCH_FRAMES = 5


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


class _GraphPool:
    """Single-hand VIDEO landmarkers kept for the next detector of this process (the next
    video of a batch, a detector's reset): building one costs ~0.1 s, the first frame of every
    video waited for two. Each comes with the smallest timestamp it accepts next (VIDEO mode
    wants them rising for the life of the graph; a detector adds it to its own frame times)
    and without tracking state: it was shown a blank frame before it came back, so its next
    frame runs palm detection, as a new one's does."""

    MAX_IDLE = 4  # per configuration: two hands tracked + one searching, and one spare

    def __init__(self):
        self._lock = threading.Lock()
        self._idle: dict = {}  # configuration -> [(landmarker, next_ms)]

    def take(self, key):
        """(landmarker, next_ms) or None."""
        with self._lock:
            idle = self._idle.get(key)
            return idle.pop() if idle else None

    def give(self, key, landmarker, next_ms: int) -> bool:
        """Keep `landmarker` for later; False when enough are kept (the caller closes it)."""
        with self._lock:
            idle = self._idle.setdefault(key, [])
            if len(idle) >= self.MAX_IDLE:
                return False
            idle.append((landmarker, int(next_ms)))
            return True

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, {}
        for landmarkers in idle.values():
            for landmarker, _ in landmarkers:
                try:
                    landmarker.close()
                except Exception:  # interpreter shutdown
                    pass


_GRAPHS = _GraphPool()
atexit.register(_GRAPHS.close)


@dataclass
class _Result:
    """The fields of MediaPipe's HandLandmarkerResult that `detect` reads, gathered from
    several landmarkers."""

    hand_landmarks: list
    hand_world_landmarks: list
    handedness: list

    def add(self, other) -> None:
        self.hand_landmarks += other.hand_landmarks
        self.hand_world_landmarks += other.hand_world_landmarks
        self.handedness += other.handedness


def _box(landmarks, shape) -> np.ndarray:
    """(x0, y0, x1, y1) pixels around normalised landmarks."""
    H, W = shape[:2]
    xy = np.array([[p.x * W, p.y * H] for p in landmarks])
    return np.concatenate([xy.min(0), xy.max(0)])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


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
        second_look: image mode: run the landmark model again on the region its first
            landmarks give (as video mode tracks a hand into the next frame) instead of the
            palm detector's region; see "Second look" below.

    Searching for hands (video mode): MediaPipe's landmarker reruns its palm detector on
    every frame on which it tracks fewer hands than it was asked for, so a clip with one
    visible hand and max_hands=2 costs about twice the same clip with max_hands=1. Here each
    tracked hand has its own single-hand VIDEO landmarker (landmarks only, from the hand's
    previous region); while no hand is tracked, palm detection runs on every frame; once one
    is found, and while fewer than max_hands are tracked, it runs then and every `search_every` frames on the frame with the
    tracked hands painted over, and a hand it finds gets its own landmarker. A hand that
    enters while others are tracked is found within `search_every` frames (measured by
    `python -m bench.hands`); after a hand is lost the next search comes after half that, or,
    while another hand is still tracked (the lost one was occluded or out of the frame for a
    moment), on each of the next `LOST_SEARCH_FRAMES` frames.
    With one visible hand the detections are exactly those of max_hands=1.

    Second look (image mode): the palm detector's region is a coarse box around the palm; the
    region MediaPipe derives from a hand's own landmarks fits the whole hand and its turn. On
    the people set's TRAIN stills a second pass from that region cut the landmarks' 2D error
    by 12% (0.111 -> 0.097 hand sizes; 200 stills) and the estimate's PA-MPJPE by 1.0 mm
    (15.3 -> 14.2; a third pass: 14.4), and MediaPipe's label was right on 90.8% of the found
    hands against 84.4% (776 stills); it costs about one more detection. A hand the second
    pass loses keeps its first landmarks.
    """

    def __init__(self, max_hands: int = 2, mode: str = "video", min_detection_confidence: float = 0.5,
                 min_presence_confidence: float = 0.5, min_tracking_confidence: float = 0.5,
                 model: str = "full", mirrored_input: bool = False, search_every: int = SEARCH_EVERY,
                 second_look: bool = False):
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
        if second_look and mode != "image":
            raise HandmocapError("second_look is for image mode (video mode tracks each hand from its previous landmarks)")
        self.second_look = bool(second_look)
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
        self._cold: set[int] = set()  # ids of landmarkers that have not returned a hand yet
        self._used_ms: dict[int, int] = {}  # landmarker id -> the last VIDEO timestamp it was given
        self._offset_ms: dict[int, int] = {}  # pooled single-hand landmarker id -> added to its timestamps
        self._last_ms = -1
        self._last_index = None
        # per-hand tracking (video mode, max_hands > 1, search_every > 1): one single-hand
        # VIDEO landmarker per tracked hand, and idle ones (no hand: their next frame runs
        # palm detection) to acquire new hands with
        self._trackers: list = []
        self._idle: list = []
        self._since_search = self.search_every
        self._eager = 0  # frames left to search on every frame (a hand lost beside others)
        self.searches = 0  # frames searched for more hands (counts for the benchmark)
        if self._per_hand():
            self._idle.append(self._single())
            self._landmarker = self._idle[0]
        else:
            self._landmarker = self._landmarker_for(self.max_hands, self.mode == "video" or self.second_look)

    def _per_hand(self) -> bool:
        return self.mode == "video" and self.max_hands > 1 and self.search_every > 1

    def _graph_key(self) -> tuple:
        return (self.model, self._conf)

    def _create(self, num_hands: int, video: bool):
        if video and num_hands == 1:  # a single-hand VIDEO graph: one kept from an earlier detector if any
            kept = _GRAPHS.take(self._graph_key())
            if kept is not None:
                landmarker, self._offset_ms[id(kept[0])] = kept
                return landmarker
            landmarker = self._build(num_hands, video)
            self._offset_ms[id(landmarker)] = 0
            return landmarker
        return self._build(num_hands, video)

    def _build(self, num_hands: int, video: bool):
        from mediapipe.tasks.python import BaseOptions, vision

        running = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=self._bundle), running_mode=running,
            num_hands=num_hands, min_hand_detection_confidence=self._conf[0],
            min_hand_presence_confidence=self._conf[1], min_tracking_confidence=self._conf[2])
        with _quiet_native_stderr(_quiet_wanted()):
            landmarker = vision.HandLandmarker.create_from_options(options)
        self._cold.add(id(landmarker))
        return landmarker

    def _landmarker_for(self, num_hands: int, video: bool):
        key = (video, num_hands)
        if key not in self._landmarkers:
            self._landmarkers[key] = self._create(num_hands, video)
        return self._landmarkers[key]

    def _single(self):
        """A single-hand VIDEO landmarker for the per-hand pool (one kept from an earlier
        detector of the process when there is one, `_GraphPool`)."""
        landmarker = self._create(1, True)
        self._landmarkers[(True, -len(self._landmarkers) - 1)] = landmarker  # closed with the others
        return landmarker

    def _prepare(self) -> None:
        """Make every landmarker the per-hand pool can need now (benchmarks time graph
        creation apart)."""
        while self._per_hand() and len(self._trackers) + len(self._idle) < self.max_hands + 1:
            self._idle.append(self._single())

    def _call(self, landmarker, mp_image, ms: int | None):
        """One image through one landmarker (VIDEO mode when ms is given); native start-up
        logging is silenced until the landmarker has returned a hand once."""
        if ms is not None:
            self._used_ms[id(landmarker)] = ms
        with _quiet_native_stderr(id(landmarker) in self._cold and _quiet_wanted()):
            result = (landmarker.detect(mp_image) if ms is None
                      else landmarker.detect_for_video(mp_image, ms + self._offset_ms.get(id(landmarker), 0)))
        if result.hand_landmarks:
            self._cold.discard(id(landmarker))
        return result

    def reset(self) -> None:
        """Forget the tracked hands (start of a new video)."""
        self.close()
        self._open()

    def _detect_video(self, image: np.ndarray, mp_image, ms: int):
        """One frame in video mode (see "Searching for hands" in the class docstring)."""
        if not self._per_hand():
            return self._call(self._landmarker, mp_image, ms)
        found = _Result([], [], [])
        boxes: list[np.ndarray] = []
        kept = []
        for landmarker in self._trackers:
            r = self._call(landmarker, mp_image, ms)
            box = _box(r.hand_landmarks[0], image.shape) if r.hand_landmarks else None
            if box is None or any(_iou(box, b) > 0.5 for b in boxes):  # lost, or now on another's hand
                self._idle.append(landmarker)
                continue
            kept.append(landmarker)
            boxes.append(box)
            found.add(r)
        if len(kept) < len(self._trackers):
            self._since_search = max(self._since_search, self.search_every // 2)  # it may be back soon
            if kept:  # lost beside another hand: look for it on the next frames
                self._eager = LOST_SEARCH_FRAMES
        self._trackers = kept
        self._since_search += 1
        if not kept:  # nothing tracked: palm detection on every frame, as MediaPipe itself does
            self._acquire(mp_image, ms, found)
            if self._trackers:  # found one: look for the others on this frame too
                self._since_search = self.search_every
        eager, self._eager = self._eager > 0, max(self._eager - 1, 0)
        due = eager or self._since_search >= self.search_every
        if self._trackers and len(self._trackers) < self.max_hands and due:
            self._since_search = 0
            self.searches += 1
            boxes = [_box(lm, image.shape) for lm in found.hand_landmarks]
            self._acquire(self._masked(image, boxes), ms, found)
        return found

    def _blank(self):
        """A small black image: a VIDEO landmarker shown it tracks no hand afterwards."""
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=np.zeros((64, 64, 3), np.uint8))

    def _look_twice(self, image: np.ndarray, mp_image):
        """Image mode with a second look (class docstring): the image twice through a VIDEO
        landmarker, then a blank frame so that no hand is tracked into the next image."""
        ms = self._last_ms + 1
        first = self._call(self._landmarker, mp_image, ms)
        self._last_ms = ms
        if not first.hand_landmarks:  # nothing tracked: the next image starts afresh
            return first
        second = self._call(self._landmarker, mp_image, ms + 1)
        self._call(self._landmarker, self._blank(), ms + 2)
        self._last_ms = ms + 2
        boxes = [_box(lm, image.shape) for lm in second.hand_landmarks]
        merged = _Result(list(second.hand_landmarks), list(second.hand_world_landmarks), list(second.handedness))
        for k, lm in enumerate(first.hand_landmarks):  # lost on the second look: keep the first
            if len(merged.hand_landmarks) < self.max_hands and not any(_iou(_box(lm, image.shape), b) > 0.3
                                                                       for b in boxes):
                merged.add(_Result([lm], [first.hand_world_landmarks[k]], [first.handedness[k]]))
        return merged

    def _acquire(self, mp_image, ms: int, found: "_Result") -> None:
        """Palm detection + landmarks on `mp_image` by an idle single-hand landmarker; one
        that finds a hand tracks it from the next frame on."""
        # a landmarker already run on this frame (a tracker that lost its hand just now, or
        # the first search's) cannot take the same timestamp again: VIDEO mode wants them rising
        ready = [lm for lm in self._idle if self._used_ms.get(id(lm), -1) < ms]
        if ready:
            landmarker = ready[0]
            self._idle.remove(landmarker)
        else:
            landmarker = self._single()
        r = self._call(landmarker, mp_image, ms)
        if r.hand_landmarks:
            self._trackers.append(landmarker)
            found.add(r)
        else:
            self._idle.append(landmarker)

    def _masked(self, image: np.ndarray, boxes):
        """The frame with the tracked hands painted over (a margin around each box: the palm
        detector sees beyond the landmarks), so that the search finds only new hands."""
        H, W = image.shape[:2]
        masked = image.copy()
        fill = np.median(image[::16, ::16].reshape(-1, 3), axis=0).astype(np.uint8)
        for x0, y0, x1, y1 in boxes:
            pad = 0.25 * max(x1 - x0, y1 - y0)
            masked[int(max(y0 - pad, 0)):int(min(y1 + pad, H)), int(max(x0 - pad, 0)):int(min(x1 + pad, W))] = fill
        return self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=masked)

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
        elif self.second_look:
            result = self._look_twice(image, mp_image)
        else:
            result = self._call(self._landmarker, mp_image, None)
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
        """Give the single-hand VIDEO graphs to the process's pool (`_GraphPool`), free the
        others (idempotent)."""
        if self._landmarker is not None:
            # the per-hand pool's idle ones found no hand last: they hold no tracking state
            idle = {id(lm) for lm in self._idle}
            for landmarker in self._landmarkers.values():
                self._release(landmarker, blank=id(landmarker) not in idle)
            self._landmarkers = {}
            self._trackers, self._idle = [], []
            self._landmarker = None

    def _release(self, landmarker, blank: bool = True) -> None:
        """Keep a single-hand VIDEO landmarker for this process's next detector (`_GraphPool`:
        shown a blank frame first unless `blank` is False, so that no tracking state comes
        along), or close it."""
        offset = self._offset_ms.pop(id(landmarker), None)
        if offset is None:  # not a kind that is kept
            landmarker.close()
            return
        used = self._used_ms.get(id(landmarker))
        next_ms = offset if used is None else offset + used + 1
        if blank and used is not None:
            try:
                landmarker.detect_for_video(self._blank(), next_ms)
            except Exception:  # a graph that fails here is not worth keeping
                landmarker.close()
                return
            next_ms += 1
        if not _GRAPHS.give(self._graph_key(), landmarker, next_ms):
            landmarker.close()

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
