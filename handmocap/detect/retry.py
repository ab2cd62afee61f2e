"""Retry where the detector finds no hand: a `HandDetector` around another one.

When the wrapped detector returns no hand for a frame, `RetryDetector` looks again, in this
order, and stops at the first view that finds one:

    "crop"    an upscaled crop around the last known hand (within `max_gap` frames): small or
              blurred hands get more pixels; the palm detector sees them at its own scale
    "tiles"   with no hand known yet: five overlapping views (the four corners and the centre,
              each 60% of the frame across), upscaled, for hands too small for the palm detector
    "flip"    the image mirrored left-right (the label flipped back, so it still names the
              person's true hand)
    "rotate"  the image rotated by 90 degrees each way (the palm detector's anchors favour
              upright hands)

Keypoints found in a transformed view are mapped back to the frame: pixels exactly (pixel-
centre convention), metric 3D keypoints rotated / mirrored back to camera-aligned axes.
Retries run on a second detector in image mode, so the wrapped (video-mode) detector's
tracking state is never fed transformed frames. `stats` counts what each retry found and cost.

Stills (`detect_still`): no earlier hand, so no crop; the plain image and the evidence views
that the handedness classifier reads (`handmocap.track.still_side`) on every image, then
retries in turn where no view found a hand; every view's hands are kept (mapped back) and
merged, plain ones first, duplicates dropped.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field, replace

import numpy as np

from .base import FrameDetections, HandDetection

STRATEGIES = ("crop", "tiles", "flip", "rotate")
VIEW_ROTATIONS = {"rot90": 1, "rot270": -1, "rot180": 2}  # np.rot90's k of each rotated view
STILL_VIEWS = ("plain", "flip", "rot90", "rot270", "rot180", "pad", "tiles")
PAD_FRACTION = 0.3  # the "pad" view: a grey border of this fraction of the longer side all round
TILE_PX = 384  # the "tiles" view: each tile upscaled to this (RetryDetector's default crop size)


@dataclass
class RetryStats:
    """Per strategy: frames tried, frames where it found a hand, detector calls, seconds spent."""

    frames: int = 0
    misses: int = 0
    tried: dict = field(default_factory=lambda: {s: 0 for s in STRATEGIES})
    found: dict = field(default_factory=lambda: {s: 0 for s in STRATEGIES})
    seconds: dict = field(default_factory=lambda: {s: 0.0 for s in STRATEGIES})
    calls: dict = field(default_factory=lambda: {s: 0 for s in STRATEGIES})


def _flip_back(h: HandDetection, W: int) -> HandDetection:
    px = h.keypoints_px.copy()
    px[:, 0] = W - 1 - px[:, 0]
    rel = h.keypoints_rel * np.array([-1.0, 1.0, 1.0])
    side = {"left": "right", "right": "left"}.get(h.handedness, h.handedness)
    return replace(h, keypoints_px=px, keypoints_rel=rel, handedness=side)


def _rotate_back(h: HandDetection, k: int, W: int, H: int) -> HandDetection:
    """Undo np.rot90(image, k) (k = 1: counter-clockwise, -1: clockwise, 2: upside down) on a
    detection of the rotated image (W, H: the original image's size)."""
    x, y = h.keypoints_px[:, 0], h.keypoints_px[:, 1]
    X, Y, Z = h.keypoints_rel.T
    if k == 2:  # upside down: rotated (x, y) is original (W - 1 - x, H - 1 - y)
        px = np.stack([W - 1 - x, H - 1 - y], -1)
        rel = np.stack([-X, -Y, Z], -1)
    elif k == 1:  # ccw: rotated (x, y) is original (W - 1 - y, x); directions likewise
        px = np.stack([W - 1 - y, x], -1)
        rel = np.stack([-Y, X, Z], -1)
    else:  # cw: rotated (x, y) is original (y, H - 1 - x)
        px = np.stack([y, H - 1 - x], -1)
        rel = np.stack([Y, -X, Z], -1)
    return replace(h, keypoints_px=px, keypoints_rel=rel)


def _crop_back(h: HandDetection, x0: int, y0: int, scale: float) -> HandDetection:
    px = (h.keypoints_px + 0.5) / scale - 0.5 + np.array([x0, y0])
    return replace(h, keypoints_px=px)


def _dedupe(hands, max_hands: int, keep: list | None = None) -> list:
    """Best-scored first; drop a hand that is `same_hand` as one kept (overlapping tiles, the
    same hand in two views). keep: hands kept already (extended in place)."""
    keep = [] if keep is None else keep
    for h in sorted(hands, key=lambda h: -h.score):
        if len(keep) < max_hands and not any(same_hand(h, k) for k in keep):
            keep.append(h)
    return keep


def zoom_hands(run, image: np.ndarray, a0: int, b0: int, a1: int, b1: int, side_px: int) -> tuple:
    """The hands `run` (image -> hands) finds in image[b0:b1, a0:a1] upscaled to side_px on its
    longer side, mapped back to `image`'s pixels."""
    import cv2

    scale = side_px / max(a1 - a0, b1 - b0)
    crop = cv2.resize(image[b0:b1, a0:a1], (round((a1 - a0) * scale), round((b1 - b0) * scale)),
                      interpolation=cv2.INTER_CUBIC)
    return tuple(_crop_back(h, a0, b0, scale) for h in run(crop))


def tile_hands(run, image: np.ndarray, side_px: int, max_hands: int = 2) -> tuple:
    """The hands of five overlapping tiles (the corners and the centre, 0.6 of each side),
    each upscaled (`zoom_hands`), duplicates dropped: for hands too small for the whole image."""
    H, W = image.shape[:2]
    tw, th = round(0.6 * W), round(0.6 * H)
    hands = []
    for a0, b0 in ((0, 0), (W - tw, 0), (0, H - th), (W - tw, H - th), ((W - tw) // 2, (H - th) // 2)):
        hands.extend(zoom_hands(run, image, a0, b0, a0 + tw, b0 + th, side_px))
    return tuple(_dedupe(hands, max_hands))


def view_hands(detector, image: np.ndarray, view: str, max_hands: int = 2) -> list:
    """The hands `detector` (IMAGE mode) finds in one view of `image`, mapped back to it.

    Args:
        image: (H, W, 3) uint8 RGB.
        view: one of `STILL_VIEWS`: "plain", "flip" (mirrored, labels flipped back), "rot90" /
            "rot270" / "rot180" (np.rot90 by 1 / -1 / 2), "pad" (a grey border all round:
            hands cut by the image's edge, or filling it, become smaller and whole-palmed to
            the palm detector), "tiles" (five overlapping upscaled views, duplicates dropped).

    Returns:
        `HandDetection`s: keypoints_px (21, 2) pixels of `image`, keypoints_rel (21, 3)
        metres in its camera-aligned axes, the label naming the person's hand.
    """
    from ..video import Frame

    H, W = image.shape[:2]
    run = lambda img: detector.detect(Frame(0, 0.0, np.ascontiguousarray(img))).hands  # noqa: E731
    if view == "plain":
        return list(run(image))
    if view == "flip":
        return [_flip_back(h, W) for h in run(image[:, ::-1])]
    if view in VIEW_ROTATIONS:
        k = VIEW_ROTATIONS[view]
        return [_rotate_back(h, k, W, H) for h in run(np.rot90(image, k))]
    if view == "pad":
        import cv2

        p = int(round(PAD_FRACTION * max(H, W)))
        padded = cv2.copyMakeBorder(image, p, p, p, p, cv2.BORDER_CONSTANT, value=(128, 128, 128))
        return [_crop_back(h, -p, -p, 1.0) for h in run(padded)]
    if view == "tiles":
        return list(tile_hands(run, image, TILE_PX, max_hands))
    from ..errors import HandmocapError

    raise HandmocapError(f"unknown view {view!r}; use one of {STILL_VIEWS}")


def same_hand(a: HandDetection, b: HandDetection, overlap: float = 0.3, nested: float = 0.6) -> bool:
    """Whether two detections of one image lie on the same hand: mean keypoint distance
    under `overlap` times the larger hand's size (box diagonal), or the smaller one's keypoint
    box at least `nested` inside the larger one's (part of a hand found as a hand)."""
    size = max(np.linalg.norm(np.ptp(a.keypoints_px, 0)), np.linalg.norm(np.ptp(b.keypoints_px, 0)), 1e-9)
    if float(np.linalg.norm(a.keypoints_px - b.keypoints_px, axis=-1).mean()) < overlap * size:
        return True
    lo = np.maximum(a.keypoints_px.min(0), b.keypoints_px.min(0))
    hi = np.minimum(a.keypoints_px.max(0), b.keypoints_px.max(0))
    inter = float(np.prod(np.clip(hi - lo, 0, None)))
    smaller = min(float(np.prod(np.ptp(h.keypoints_px, 0))) for h in (a, b))
    return inter >= nested * max(smaller, 1e-9)


@dataclass(frozen=True)
class StillDetections:
    """The hands of one still and every view looked at.

    Attributes:
        hands: the merged hands (plain ones first, then those only a retry view found,
            each once), at most max_hands.
        found_in: for each of `hands`, the view that found it.
        views: {view: its hands mapped back to the image}, for every view run.
        calls: detector calls made.  seconds: time spent detecting.
    """

    hands: tuple
    found_in: tuple
    views: dict
    calls: int
    seconds: float


def detect_still(detector, image: np.ndarray, retries=(), evidence=(), max_hands: int = 2) -> StillDetections:
    """One still's hands: the plain image and the `evidence` views, then `retries` in order
    while no view has found a hand (stopping at the first that finds one).

    Args:
        detector: a MediaPipe detector in IMAGE mode (or any `HandDetector` that is
            stateless between images).
        image: (H, W, 3) uint8 RGB.
        retries, evidence: view names of `STILL_VIEWS` ("plain" excluded).

    Returns:
        `StillDetections`; hands found only in an evidence view count too (they cost
        nothing more).
    """
    from ..errors import HandmocapError

    unknown = (set(retries) | set(evidence)) - set(STILL_VIEWS[1:])
    if unknown:
        raise HandmocapError(f"unknown still views {sorted(unknown)}; use {STILL_VIEWS[1:]}")
    t0 = time.perf_counter()
    views, calls = {}, 0
    for view in ("plain", *evidence):
        views[view] = view_hands(detector, image, view, max_hands)
        calls += 5 if view == "tiles" else 1
    for view in retries:
        if any(views.values()):
            break
        if view not in views:
            views[view] = view_hands(detector, image, view, max_hands)
            calls += 5 if view == "tiles" else 1
    hands, found_in = merge_views(views, max_hands)
    return StillDetections(hands, found_in, views, calls, time.perf_counter() - t0)


def merge_views(views: dict, max_hands: int = 2) -> tuple[tuple, tuple]:
    """(hands, the view that found each) from {view: hands mapped back}, in the views' order
    and best score first within a view; a hand on one already kept is a duplicate."""
    hands, found_in = [], []
    for view, found in views.items():
        before = len(hands)
        _dedupe(found, max_hands, keep=hands)
        found_in += [view] * (len(hands) - before)
    return tuple(hands), tuple(found_in)


class RetryDetector:
    """A `HandDetector` that looks again where `detector` finds no hand.

    Args:
        detector: the wrapped `HandDetector` (closed with this one).
        strategies: which retries, in order (subset of `STRATEGIES`).
        retry_detector: detector for the transformed views (default: MediaPipe in image
            mode, made on the first miss).
        max_gap: frames after the last hand that the crop retry still uses its position.
        crop_size: pixels of the upscaled crop's side (the crop is 3x the last hand's box).
    """

    def __init__(self, detector, strategies=STRATEGIES, retry_detector=None, max_gap: int = 15,
                 crop_size: int = TILE_PX):
        unknown = set(strategies) - set(STRATEGIES)
        if unknown:
            from ..errors import HandmocapError

            raise HandmocapError(f"unknown retry strategies {sorted(unknown)}; use {STRATEGIES}")
        self.detector = detector
        self.strategies = tuple(strategies)
        self._retry = retry_detector
        self._own_retry = retry_detector is None
        self.max_gap = int(max_gap)
        self.crop_size = int(crop_size)
        self._last_box = None  # (x0, y0, x1, y1) of the last hand, and its frame index
        self._last_index = None
        self.stats = RetryStats()

    def _retry_detector(self):
        if self._retry is None:
            from .mediapipe_hands import MediaPipeHandDetector

            self._retry = MediaPipeHandDetector(max_hands=getattr(self.detector, "max_hands", 2), mode="image")
        return self._retry

    def _run(self, image, frame):
        from ..video import Frame

        self.stats.calls[self._current] += 1
        return self._retry_detector().detect(Frame(frame.index, frame.timestamp_s, np.ascontiguousarray(image))).hands

    def _try(self, name: str, frame, W: int, H: int):
        img = frame.image
        if name == "flip":
            return tuple(_flip_back(h, W) for h in self._run(img[:, ::-1], frame))
        if name == "rotate":
            for k in (1, -1):
                hands = self._run(np.rot90(img, k), frame)
                if hands:
                    return tuple(_rotate_back(h, k, W, H) for h in hands)
            return ()
        if name == "tiles":
            return tile_hands(lambda image: self._run(image, frame), img, self.crop_size,
                              getattr(self.detector, "max_hands", 2))
        if self._last_box is None or frame.index - self._last_index > self.max_gap:
            return ()
        x0, y0, x1, y1 = self._last_box
        side = 3.0 * max(x1 - x0, y1 - y0, 16.0)  # the palm detector needs context (2.5x measured worse)
        cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
        a0, b0 = int(max(0, round(cx - side / 2))), int(max(0, round(cy - side / 2)))
        a1, b1 = int(min(W, round(cx + side / 2))), int(min(H, round(cy + side / 2)))
        if a1 - a0 < 8 or b1 - b0 < 8:
            return ()
        return zoom_hands(lambda image: self._run(image, frame), img, a0, b0, a1, b1, self.crop_size)

    def detect(self, frame) -> FrameDetections:
        fd = self.detector.detect(frame)
        self.stats.frames += 1
        if not fd.hands:
            self.stats.misses += 1
            H, W = frame.image.shape[:2]
            recent = self._last_box is not None and frame.index - self._last_index <= self.max_gap
            for name in self.strategies:
                if (name == "crop" and not recent) or (name == "tiles" and recent):
                    continue
                t0 = time.perf_counter()
                self._current = name
                hands = self._try(name, frame, W, H)
                self.stats.tried[name] += 1
                self.stats.seconds[name] += time.perf_counter() - t0
                if hands:
                    self.stats.found[name] += 1
                    fd = replace(fd, hands=hands)
                    break
        if fd.hands:
            px = fd.hands[0].keypoints_px
            self._last_box = (*px.min(0), *px.max(0))
            self._last_index = frame.index
        return fd

    def close(self) -> None:
        self.detector.close()
        if self._own_retry and self._retry is not None:
            self._retry.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = ["STILL_VIEWS", "STRATEGIES", "RetryDetector", "RetryStats", "StillDetections", "detect_still", "merge_views",
           "same_hand", "tile_hands", "view_hands", "zoom_hands"]
