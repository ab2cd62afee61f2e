"""What every hand detector returns, and the protocol it follows.

Shapes: J = 21 keypoints in MediaPipe order (`handmocap.hand.joints.KEYPOINT_NAMES`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

SIDES = ("left", "right")


@dataclass(frozen=True, eq=False)
class HandDetection:
    """One detected hand in one frame.

    Attributes:
        keypoints_px: (21, 2) float64 pixels, image frame, pixel-centre convention (the
            centre of the top-left pixel is (0, 0)).
        keypoints_rel: (21, 3) float64 metres, camera-aligned axes (x right, y down,
            z away from the camera), origin near the hand's centre (not the wrist).
        handedness: "left" or "right", the person's true hand for ordinary (non-mirrored)
            footage.
        handedness_score: probability of that label, in [0.5, 1].
        score: detection confidence in [0, 1].
    """

    keypoints_px: np.ndarray
    keypoints_rel: np.ndarray
    handedness: str
    handedness_score: float
    score: float


@dataclass(frozen=True, eq=False)
class FrameDetections:
    """Every hand detected in one frame.

    Attributes:
        index: the frame's index in its input (`Frame.index`).
        timestamp_s: the frame's presentation time in seconds.
        hands: the detections, best score first (empty when no hand was found).
        image_size: (W, H) pixels of the frame the keypoints refer to.
    """

    index: int
    timestamp_s: float
    hands: tuple[HandDetection, ...]
    image_size: tuple[int, int]


@runtime_checkable
class HandDetector(Protocol):
    """A detector takes frames in time order and returns their hands.

    Use it as a context manager (or call `close`) so native resources are freed.
    """

    def detect(self, frame) -> FrameDetections:
        """Detect the hands in one `handmocap.video.Frame`."""
        ...

    def close(self) -> None:
        ...

    def __enter__(self):
        ...

    def __exit__(self, *exc) -> None:
        ...
