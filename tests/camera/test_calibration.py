"""Checkerboard calibration on synthetic videos rendered with a known K."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from handmocap.camera.calibrate import calibrate
from handmocap.camera.intrinsics import Intrinsics
from handmocap.errors import InputError

SIZE = (640, 480)
K_TRUE = np.array([[612.0, 0.0, 324.3], [0.0, 608.5, 236.9], [0.0, 0.0, 1.0]])
PATTERN = (9, 6)  # inner corners
SQUARE_M = 0.03


def board_image(sq=48, margin=48):
    """White-bordered board with PATTERN inner corners; returns image and board-px -> metres map."""
    cols, rows = PATTERN[0] + 1, PATTERN[1] + 1
    img = np.full((rows * sq + 2 * margin, cols * sq + 2 * margin), 255, np.uint8)
    for r in range(rows):
        for c in range(cols):
            if (r + c) % 2 == 0:
                img[margin + r * sq: margin + (r + 1) * sq, margin + c * sq: margin + (c + 1) * sq] = 0
    s, o = SQUARE_M / sq, margin + sq - 0.5  # first inner corner at board pixel (o, o), pixel-centre
    to_metric = np.array([[s, 0, -s * o], [0, s, -s * o], [0, 0, 1.0]])
    return img, to_metric


def render_views(n=20, seed=0):
    """n frames of the board seen by K_TRUE from random poses (fully in view), supersampled x2."""
    rng = np.random.default_rng(seed)
    board, to_metric = board_image()
    ext = np.array([PATTERN[0] + 1, PATTERN[1] + 1]) * SQUARE_M
    up = np.array([[2.0, 0, 0.5], [0, 2.0, 0.5], [0, 0, 1]])  # small px -> 2x px (pixel-centre)
    frames = []
    while len(frames) < n:
        rvec = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.6, 0.6), rng.uniform(-0.4, 0.4)])
        R, _ = cv2.Rodrigues(rvec)
        centre = np.array([rng.uniform(-0.08, 0.08), rng.uniform(-0.06, 0.06), rng.uniform(0.45, 0.7)])
        t = centre - R @ np.array([ext[0] / 2 - SQUARE_M, ext[1] / 2 - SQUARE_M, 0])
        corners = np.array([[x, y, 0] for x in (-SQUARE_M, ext[0]) for y in (-SQUARE_M, ext[1])])
        px, _ = cv2.projectPoints(corners, rvec, t, K_TRUE, None)
        if not ((px[:, 0, 0] > 10).all() and (px[:, 0, 0] < SIZE[0] - 10).all()
                and (px[:, 0, 1] > 10).all() and (px[:, 0, 1] < SIZE[1] - 10).all()):
            continue
        Hm = up @ K_TRUE @ np.column_stack([R[:, 0], R[:, 1], t]) @ to_metric
        big = cv2.warpPerspective(board, Hm, (2 * SIZE[0], 2 * SIZE[1]), flags=cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_CONSTANT, borderValue=160)
        small = cv2.resize(big, SIZE, interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(small, cv2.COLOR_GRAY2BGR))
    return frames


@pytest.fixture(scope="module")
def views():
    return render_views()


def check_K(intr: Intrinsics, tol=0.01):
    est = intr.matrix()
    for (i, j) in ((0, 0), (1, 1), (0, 2), (1, 2)):
        assert abs(est[i, j] / K_TRUE[i, j] - 1) < tol, (i, j, est[i, j], K_TRUE[i, j])


def test_image_folder(tmp_path, views):
    for i, f in enumerate(views):
        cv2.imwrite(str(tmp_path / f"view_{i:03d}.png"), f)
    res = calibrate(tmp_path, pattern=PATTERN, square_size_m=SQUARE_M)
    worst = max(abs(res.intrinsics.matrix()[i, j] / K_TRUE[i, j] - 1) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    print(f"\nimage folder: {res.frames_used} views, reprojection {res.reprojection_error_px:.3f} px, "
          f"worst relative K error {100 * worst:.3f}%")
    assert res.frames_used == len(views)
    assert res.intrinsics.size == SIZE
    assert res.reprojection_error_px < 0.5
    check_K(res.intrinsics)
    out = res.save(tmp_path / "out" / "camera.yaml")
    assert Intrinsics.from_file(out) == res.intrinsics


def test_video(tmp_path, views):
    path = tmp_path / "board.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, SIZE)
    assert writer.isOpened()
    for f in views:
        for _ in range(3):  # a real video holds each pose a little
            writer.write(f)
    writer.release()
    res = calibrate(path, pattern=PATTERN, square_size_m=SQUARE_M, max_views=15)
    worst = max(abs(res.intrinsics.matrix()[i, j] / K_TRUE[i, j] - 1) for i, j in ((0, 0), (1, 1), (0, 2), (1, 2)))
    print(f"\nmp4 video: {res.frames_used} views, reprojection {res.reprojection_error_px:.3f} px, "
          f"worst relative K error {100 * worst:.3f}%")
    assert res.frames_used == 15
    check_K(res.intrinsics)
    saved = Intrinsics.from_file(res.save(tmp_path / "camera.json"))
    assert saved == res.intrinsics


def test_bad_sources(tmp_path):
    with pytest.raises(InputError, match="nope.mp4: no such file"):
        calibrate(tmp_path / "nope.mp4")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="empty: no images"):
        calibrate(empty)
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a video")
    with pytest.raises(InputError, match="junk.mp4: cannot open"):
        calibrate(junk)
    blank = tmp_path / "blank"
    blank.mkdir()
    for i in range(6):
        cv2.imwrite(str(blank / f"{i}.png"), np.full((120, 160, 3), 128, np.uint8))
    with pytest.raises(InputError, match=r"blank: checkerboard 9x6 \(inner corners\) found in 0 of 6 frames"):
        calibrate(blank)
    with pytest.raises(InputError, match="square size"):
        calibrate(blank, square_size_m=0)
