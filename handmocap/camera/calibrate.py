"""Camera calibration from a checkerboard video or image folder (OpenCV).

    result = calibrate("board.mp4", pattern=(9, 6), square_size_m=0.025)
    result.save("camera.json")        # read back with Intrinsics.from_file / `track --calib`

Corners are found with cv2.findChessboardCorners (on a downscaled copy of large frames for
speed), refined with cv2.cornerSubPix at full resolution, and cv2.calibrateCamera estimates
K and the distortion. Views are spread evenly over the video.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from .intrinsics import Intrinsics

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
DISTORTION_MODELS = ("none", "radial", "opencv")


@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of `calibrate`.

    Attributes:
        intrinsics: estimated `Intrinsics` (with distortion unless model "none").
        reprojection_error_px: RMS reprojection error over all corners (pixels).
        frames_used: number of board views that went into the estimate.
    """

    intrinsics: Intrinsics
    reprojection_error_px: float
    frames_used: int

    def save(self, path: str | Path) -> Path:
        """Write the calibration (JSON or OpenCV YAML, by suffix) with the error and view count."""
        return self.intrinsics.save(path, extra={"reprojection_error_px": float(self.reprojection_error_px),
                                                 "frames_used": int(self.frames_used)})


def _frames(source: Path, max_frames: int):
    """Yield (name, BGR image) from an image folder or a video, at most ~max_frames spread evenly."""
    import cv2

    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise InputError(source, "no images found in the folder")
        step = max(1, len(files) // max_frames)
        for p in files[::step]:
            img = cv2.imread(str(p), cv2.IMREAD_COLOR)
            if img is None:
                raise InputError(p, "cannot read image")
            yield p.name, img
        return
    if not source.exists():
        raise InputError(source, "no such file or folder")
    cap = cv2.VideoCapture(str(source))
    if not cap.isOpened():
        raise InputError(source, "cannot open as a video (unsupported or corrupt file)")
    try:
        total = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        step = max(1, total // max_frames) if total > 0 else 1
        index, got = 0, 0
        while True:
            ok = cap.grab()
            if not ok:
                break
            if index % step == 0:
                ok, img = cap.retrieve()
                if ok and img is not None:
                    got += 1
                    yield f"frame {index}", img
            index += 1
        if got == 0:
            raise InputError(source, "no frames could be decoded")
    finally:
        cap.release()


def find_board(gray: np.ndarray, pattern: tuple[int, int], detect_width: int = 960):
    """Checkerboard inner corners (cols*rows, 1, 2) float32 at sub-pixel accuracy, or None.

    Detection runs on a copy at most `detect_width` wide; refinement at full resolution.
    """
    import cv2

    scale = min(1.0, detect_width / gray.shape[1])
    small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else gray
    flags = cv2.CALIB_CB_ADAPTIVE_THRESH | cv2.CALIB_CB_NORMALIZE_IMAGE | cv2.CALIB_CB_FAST_CHECK
    found, corners = cv2.findChessboardCorners(small, pattern, flags=flags)
    if not found:
        return None
    # back to full-resolution pixel-centre coordinates, then refine there
    corners = ((corners + 0.5) / scale - 0.5).astype(np.float32)
    win = max(3, int(round(4 / scale)))
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 50, 1e-4)
    return cv2.cornerSubPix(gray, corners, (win, win), (-1, -1), criteria)


def board_points(pattern: tuple[int, int], square_size_m: float) -> np.ndarray:
    """(cols*rows, 3) float32 corner positions on the board plane z = 0, metres, row-major."""
    cols, rows = pattern
    grid = np.mgrid[0:cols, 0:rows].T.reshape(-1, 2)
    return np.concatenate([grid * square_size_m, np.zeros((len(grid), 1))], 1).astype(np.float32)


def calibrate(source: str | Path, pattern: tuple[int, int] = (9, 6), square_size_m: float = 0.025,
              max_views: int = 40, distortion: str = "radial", min_views: int = 5) -> CalibrationResult:
    """Estimate camera intrinsics from a checkerboard video or a folder of images.

    Args:
        source: video file or image folder.
        pattern: inner corners (columns, rows) of the board, e.g. (9, 6) for a 10x7 board.
        square_size_m: side of one square in metres (sets the unit of the board poses; K does
            not depend on it).
        max_views: at most this many board views are used (spread over the source).
        distortion: "none" (K only), "radial" (k1, k2; the default) or "opencv" (k1, k2, p1, p2, k3).
        min_views: fewer detected boards than this is an error.

    Returns:
        `CalibrationResult`.

    Raises:
        InputError: unreadable source, no/too few boards found, bad arguments.
    """
    import cv2

    source = Path(source)
    if distortion not in DISTORTION_MODELS:
        raise InputError(None, f"distortion must be one of {', '.join(DISTORTION_MODELS)}, got {distortion!r}")
    if len(pattern) != 2 or min(pattern) < 2:
        raise InputError(None, f"pattern must be (cols, rows) inner corners >= 2, got {pattern}")
    if not square_size_m > 0:
        raise InputError(None, f"square size must be > 0 m, got {square_size_m}")
    obj = board_points(tuple(int(v) for v in pattern), float(square_size_m))
    image_points, size, seen = [], None, 0
    # look at up to 3x max_views frames: some will not show the whole board
    for name, img in _frames(source, 3 * max_views):
        gray = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        if size is None:
            size = (gray.shape[1], gray.shape[0])
        elif (gray.shape[1], gray.shape[0]) != size:
            raise InputError(source, f"{name} is {gray.shape[1]}x{gray.shape[0]}, earlier images {size[0]}x{size[1]}")
        seen += 1
        corners = find_board(gray, tuple(pattern))
        if corners is not None:
            image_points.append(corners)
    if len(image_points) < min_views:
        raise InputError(source, f"checkerboard {pattern[0]}x{pattern[1]} (inner corners) found in "
                                 f"{len(image_points)} of {seen} frames; need at least {min_views}")
    if len(image_points) > max_views:
        keep = np.linspace(0, len(image_points) - 1, max_views).round().astype(int)
        image_points = [image_points[i] for i in keep]
    flags = {"none": cv2.CALIB_FIX_K1 | cv2.CALIB_FIX_K2 | cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
             "radial": cv2.CALIB_FIX_K3 | cv2.CALIB_ZERO_TANGENT_DIST,
             "opencv": 0}[distortion]
    rms, K, dist, _, _ = cv2.calibrateCamera([obj] * len(image_points), image_points, size, None, None, flags=flags)
    dist = np.asarray(dist, float).ravel()
    intr = Intrinsics.from_matrix(K, size[0], size[1], None if distortion == "none" else dist[:5])
    return CalibrationResult(intr, float(rms), len(image_points))


__all__ = ["CalibrationResult", "board_points", "calibrate", "find_board"]
