"""A real photo of a hand: OpenCV's calibration sample right04.jpg (Debian's opencv-doc).

Looked at by eye: a person facing the camera holds a chessboard; the hand gripping the
board's right edge (image right) is the person's LEFT hand (the arm comes from the person's
left shoulder, image right, and wears the watch). Hand region, by eye, in pixels:
x 405..530, y 180..405 (640x480 image).
"""
from __future__ import annotations

from pathlib import Path

RIGHT04 = Path("/usr/share/doc/opencv-doc/examples/data/right04.jpg")
HAND_BOX = (405, 180, 530, 405)  # x0, y0, x1, y1 pixels, from looking at the photo
