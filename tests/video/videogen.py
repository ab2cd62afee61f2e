"""Helpers that make test media with the real ffmpeg (imported by conftest and tests)."""
from __future__ import annotations

import subprocess

import numpy as np


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test with its stderr if it fails."""
    proc = subprocess.run(["ffmpeg", "-y", "-nostdin", "-v", "error", *args], capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}")


def asym_image(w: int = 160, h: int = 120) -> np.ndarray:
    """(H, W, 3) uint8 RGB with no symmetry: a red block top-left, a green bar at the bottom."""
    img = np.full((h, w, 3), 40, np.uint8)
    img[: h // 4, : w // 4] = (255, 0, 0)
    img[-h // 6:, :] = (0, 255, 0)
    img[h // 3: h // 2, w // 2: w // 2 + 10] = (0, 0, 255)
    return img
