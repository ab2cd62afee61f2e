"""Helpers that make test media with the real ffmpeg (imported by conftest and tests)."""
from __future__ import annotations

import os
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


def ffmpeg_children() -> list[int]:
    """PIDs of this process's live ffmpeg children (read from /proc)."""
    kids = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{pid}/comm") as fh:
                comm = fh.read().strip()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and comm == "ffmpeg" and fields[0] != "Z":
            kids.append(int(pid))
    return kids
