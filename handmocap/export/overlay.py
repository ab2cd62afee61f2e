"""PNG overlay of a still: the photo with each hand's mesh (shaded, semi-transparent) and its
21-keypoint skeleton drawn on top (the preview video's drawing, one frame). Stills get
this instead of a preview MP4."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import HandmocapError, InputError
from ..motion import Motion
from .mesh import write_atomic


def still_image(source: str | Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the photo, or the first frame of a 1-frame video / folder."""
    from ..track.stills import read_still

    return read_still(source)[0]


def _check_still(motion: Motion) -> None:
    if not motion.is_still:
        raise HandmocapError(f"{motion.source}: the PNG overlay is for stills (1 frame), this motion has "
                             f"{motion.num_frames} frames: use the preview video")


def overlay_image(motion: Motion, image: np.ndarray, hand_model: str | None = None) -> np.ndarray:
    """The still's hands drawn over a copy of `image` ((H, W, 3) uint8 RGB, the motion's size)."""
    from .preview import draw_hand

    _check_still(motion)
    W, H = motion.image_size
    if image.shape[:2] != (H, W):
        raise InputError(motion.source, f"image size {image.shape[1]}x{image.shape[0]} differs from the "
                                        f"motion's {W}x{H}")
    from ..hand import load_hand_asset
    from .obj_sequence import still_vertices

    out = np.ascontiguousarray(image).copy()
    hands = still_vertices(motion, hand_model)
    for t in motion.tracks:
        draw_hand(out, hands[t.track_id], np.asarray(load_hand_asset(hand_model, t.side).faces), motion.camera.matrix,
                  t.keypoints_px[0], f"{t.side} #{t.track_id}")
    return out


def export_overlay(motion: Motion, source: str | Path, path: str | Path, hand_model: str | None = None) -> Path:
    """Write the PNG overlay of a still over its `source` image atomically; returns `path`."""
    import cv2

    _check_still(motion)
    drawn = overlay_image(motion, still_image(source), hand_model)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(drawn[:, :, ::-1]))
    if not ok:
        raise InputError(path, "OpenCV could not encode the PNG")
    return write_atomic(Path(path), png.tobytes())


__all__ = ["export_overlay", "overlay_image", "still_image"]
