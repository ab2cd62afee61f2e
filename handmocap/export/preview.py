"""Preview MP4: the source video with each hand's mesh (shaded, semi-transparent) and its
21-keypoint skeleton drawn on top. Streamed frame by frame: memory stays bounded."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cv2
import numpy as np

from ..errors import DependencyError, InputError
from ..hand import HandModel
from ..hand.joints import KEYPOINT_PARENTS
from ..motion import Motion
from .obj_sequence import iter_camera_space_vertices

# BGR-free: RGB colours per finger (thumb, index, middle, ring, pinky) and the palm
FINGER_COLOURS = [(255, 80, 80), (255, 200, 40), (80, 220, 80), (60, 160, 255), (200, 90, 255)]
PALM_COLOUR = (235, 235, 235)
MESH_COLOUR = np.array([225, 170, 140], dtype=np.float32)


def _finger_of(k: int) -> int:
    return (k - 1) // 4


def draw_hand(image: np.ndarray, verts_cam: np.ndarray | None, faces: np.ndarray, K: np.ndarray,
              keypoints_px: np.ndarray | None, label: str = "", alpha: float = 0.55) -> np.ndarray:
    """Draw one hand onto an RGB image in place and return it.

    Args:
        image: (H, W, 3) uint8 RGB.
        verts_cam: (V, 3) camera-space vertices, metres (None: no mesh).
        faces: (F, 3) triangles.  K: (3, 3) intrinsics.
        keypoints_px: (21, 2) pixel centres to draw as a skeleton (None: none).
    """
    H, W = image.shape[:2]
    if verts_cam is not None and np.all(verts_cam[:, 2] > 1e-3):
        uv = verts_cam @ K.T
        uv = uv[:, :2] / uv[:, 2:]
        tri = verts_cam[faces]
        normal = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        normal /= np.maximum(np.linalg.norm(normal, axis=1, keepdims=True), 1e-12)
        centre = tri.mean(1)
        view = -centre / np.linalg.norm(centre, axis=1, keepdims=True)
        facing = (normal * view).sum(1)
        keep = facing > 0  # back faces hidden
        order = np.argsort(-centre[keep, 2])  # painter's algorithm: far to near
        shade = (0.35 + 0.65 * facing[keep][order])[:, None] * MESH_COLOUR
        polys = np.round(uv[faces[keep][order]] * 16).astype(np.int32)  # 4 bits of sub-pixel precision
        overlay = image.copy()
        for poly, colour in zip(polys, shade.astype(np.uint8)):
            cv2.fillConvexPoly(overlay, poly, tuple(int(c) for c in colour), lineType=cv2.LINE_AA, shift=4)
        cv2.addWeighted(overlay, alpha, image, 1 - alpha, 0, dst=image)
    if keypoints_px is not None and np.all(np.isfinite(keypoints_px)):
        pts = np.round(keypoints_px).astype(int)
        for k, p in enumerate(KEYPOINT_PARENTS):
            if p >= 0:
                colour = FINGER_COLOURS[_finger_of(k)] if k % 4 != 1 or k == 1 else PALM_COLOUR
                cv2.line(image, tuple(pts[p]), tuple(pts[k]), colour, 2, cv2.LINE_AA)
        for k in range(21):
            colour = PALM_COLOUR if k == 0 else FINGER_COLOURS[_finger_of(k)]
            cv2.circle(image, tuple(pts[k]), 3, colour, -1, cv2.LINE_AA)
        if label:
            x, y = pts[:, 0].min(), max(pts[:, 1].min() - 8, 12)
            cv2.putText(image, label, (int(x), int(y)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    del W, H
    return image


def _encoder(path: Path, width: int, height: int, fps: float) -> subprocess.Popen:
    import shutil

    if shutil.which("ffmpeg") is None:
        raise DependencyError("ffmpeg", "the preview video (apt-get install ffmpeg)")
    import ffmpeg

    even_w, even_h = width - width % 2, height - height % 2  # yuv420p needs even sizes
    stream = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="rgb24", s=f"{width}x{height}", framerate=fps)
              .filter("crop", even_w, even_h, 0, 0)
              .output(str(path), vcodec="libx264", pix_fmt="yuv420p", preset="veryfast", crf=23,
                      movflags="+faststart", format="mp4", r=fps)
              .overwrite_output().global_args("-loglevel", "error"))
    # own process group: Ctrl-C reaches only handmocap, which ends the encoder itself
    return subprocess.Popen(stream.compile(), stdin=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)


def export_preview(motion: Motion, video: str | Path, path: str | Path, hand_model: str | None = None) -> Path:
    """Write the preview MP4 of `motion` over its source `video` atomically; returns `path`."""
    from ..video import open_frames

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.mp4")
    K = motion.camera.matrix
    per_frame = iter_camera_space_vertices(motion, hand_model)  # lazily, in step with the video
    faces = {s: HandModel(hand_model, side=s).faces.numpy() for s in {t.side for t in motion.tracks}}
    kp = {}
    for t in motion.tracks:
        for i, f in enumerate(t.frame_index):
            kp[(t.track_id, int(f))] = (t.keypoints_px[i], t.side, bool(t.detected[i]))
    W, H = motion.image_size
    proc = _encoder(tmp, W, H, motion.fps)
    try:
        drawn, hands = -1, {}
        for frame in open_frames(video, stream=motion.extra.get("video_stream")):
            if frame.index >= motion.num_frames:
                break
            image = np.ascontiguousarray(frame.image)
            if image.shape[:2] != (H, W):
                raise InputError(video, f"frame size {image.shape[1]}x{image.shape[0]} differs from the motion's {W}x{H}")
            while frame.index > drawn:  # frames the decoder skipped still consume their meshes
                hands, drawn = next(per_frame), drawn + 1
            for track_id, verts in hands.items():
                keypoints, side, detected = kp[(track_id, frame.index)]
                label = f"{side} #{track_id}" + ("" if detected else " (bridged)")
                draw_hand(image, verts, faces[side], K, keypoints if detected else None, label)
            proc.stdin.write(image.tobytes())
        proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace").strip()
        if proc.wait() != 0:
            raise InputError(path, f"ffmpeg could not encode the preview: {err.splitlines()[-1] if err else 'unknown error'}")
        os.replace(tmp, path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if tmp.exists():
            tmp.unlink()
    return path
