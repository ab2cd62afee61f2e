"""Hand detection front end: per frame, 21 image keypoints (px), 21 metric root-relative
keypoints (m), handedness and scores, behind the `HandDetector` protocol.

    with MediaPipeHandDetector(max_hands=2) as det:
        for fd in detect_video("clip.mp4", det):
            fd.hands[0].keypoints_px      # (21, 2) pixels, pixel-centre convention

MediaPipe is imported only when a detector is built.
"""
from .base import SIDES, FrameDetections, HandDetection, HandDetector

__all__ = ["HandDetection", "FrameDetections", "HandDetector", "SIDES", "MediaPipeHandDetector",
           "detect_video", "hand_landmarker_bundle"]


def __getattr__(name):  # lazy: importing handmocap.detect must not import mediapipe
    if name in ("MediaPipeHandDetector", "detect_video", "hand_landmarker_bundle"):
        from . import mediapipe_hands

        return getattr(mediapipe_hands, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
