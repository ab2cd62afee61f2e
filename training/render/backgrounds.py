"""Backgrounds composited behind rendered people: real photos and textured walls (numpy/cv2).

Photos are Debian's opencv-doc sample images (what users' desks and rooms look like is not
in the project; these are real camera pictures). The test and train splits use disjoint
photos. Walls are procedural: plaster, bricks, wood, tiles.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

PHOTO_DIR = Path("/usr/share/doc/opencv-doc/examples/data")
# real photographs (no drawings, no hands or people in them); split by name
_PHOTOS = {
    "test": ("aloeL.jpg", "building.jpg", "fruits.jpg", "home.jpg", "leuvenA.jpg", "box_in_scene.png",
             "left01.jpg", "orange.jpg", "graf1.png", "starry_night.jpg", "tsukuba_l.png"),
    "train": ("apple.jpg", "baboon.jpg", "butterfly.jpg", "leuvenB.jpg", "aloeR.jpg", "board.jpg",
              "right01.jpg", "graf3.png", "sudoku.png", "left02.jpg", "pic1.png", "ela_original.jpg"),
}


def photos(split: str) -> list[Path]:
    """The split's background photos that exist on this machine (opencv-doc installed)."""
    return [PHOTO_DIR / n for n in _PHOTOS[split] if (PHOTO_DIR / n).exists()]


def photo_background(path: Path, size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a random crop of a photo, scaled up to cover, maybe mirrored,
    with its brightness and colour balance jittered."""
    W, H = size
    img = cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    s = max(W / w, H / h) * rng.uniform(1.0, 1.8)
    img = cv2.resize(img, (max(W, int(round(w * s))), max(H, int(round(h * s)))), interpolation=cv2.INTER_LINEAR)
    y0 = int(rng.integers(0, img.shape[0] - H + 1))
    x0 = int(rng.integers(0, img.shape[1] - W + 1))
    img = img[y0:y0 + H, x0:x0 + W].astype(np.float32)
    if rng.uniform() < 0.5:
        img = img[:, ::-1]
    img = img * rng.uniform(0.5, 1.1) * rng.uniform(0.9, 1.1, 3)
    if rng.uniform() < 0.4:  # out of focus behind the hand
        k = int(rng.integers(1, 4)) * 2 + 1
        img = cv2.GaussianBlur(img, (k, k), 0)
    return np.clip(img, 0, 255).astype(np.uint8)


def _noise(size: tuple[int, int], scale: float, rng: np.random.Generator) -> np.ndarray:
    W, H = size
    small = rng.normal(size=(max(2, int(H / scale)), max(2, int(W / scale)))).astype(np.float32)
    return cv2.resize(small, (W, H), interpolation=cv2.INTER_CUBIC)


def wall_background(size: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """(H, W, 3) uint8 RGB: a procedural textured wall (plaster, bricks, wood or tiles)."""
    W, H = size
    kind = rng.choice(["plaster", "bricks", "wood", "tiles"])
    base = rng.uniform(60, 220, 3) * rng.uniform(0.6, 1.0)
    if kind == "plaster":
        lum = 1 + 0.08 * _noise(size, 40, rng) + 0.04 * _noise(size, 4, rng)
    elif kind == "wood":
        base = np.array([150, 100, 60]) * rng.uniform(0.5, 1.3)
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        warp = 6 * _noise(size, 60, rng)
        lum = 1 + 0.15 * np.sin((yy + warp) / rng.uniform(3, 9)) + 0.05 * _noise(size, 3, rng)
        if rng.uniform() < 0.5:
            lum = lum.T[:H, :W] if H == W else cv2.resize(lum.T, (W, H))
    else:
        cell = (rng.uniform(14, 40), rng.uniform(8, 20)) if kind == "bricks" else (rng.uniform(15, 50),) * 2
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        row = np.floor(yy / cell[1])
        xs = xx + (row % 2) * cell[0] / 2 if kind == "bricks" else xx
        mortar = ((xs % cell[0]) < 2) | ((yy % cell[1]) < 2)
        lum = 1 + 0.1 * _noise(size, 30, rng) + 0.05 * _noise(size, 2, rng)
        lum = np.where(mortar, 0.65, lum)
    shade = 1 + 0.25 * np.linspace(-1, 1, W)[None, :] * rng.uniform(-1, 1)  # light falloff
    img = base[None, None, :] * (lum * shade)[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)
