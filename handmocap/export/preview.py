"""Preview MP4: the source video with each hand's mesh (shaded, semi-transparent) and its
21-keypoint skeleton drawn on top. Streamed frame by frame: memory stays bounded.

Three things run at once: the source is decoded a few frames ahead in a thread (OpenCV
releases the GIL), this thread draws, and ffmpeg encodes in its own process (x264,
`PREVIEW_PRESET`) fed by a writer thread, so that drawing never waits on the pipe. The mesh
is blended only inside the hand's bounding box, and its triangles are painted far to near in
about a hundred fillPoly calls (depth slabs x shade levels) rather than one per triangle,
without anti-aliasing (they tile the surface: shared edges need none; the skeleton keeps it).
The mesh drawn is a coarse one over the model's own vertices (`PREVIEW_MAX_FACES`)."""
from __future__ import annotations

import functools
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
DEPTH_SLABS, SHADE_LEVELS = 6, 10  # mesh painting: see _paint_groups
PREVIEW_PRESET = "ultrafast"  # x264: the preview is for looking at, not archiving
PREVIEW_MAX_FACES = 1500  # the drawn mesh: coarser than the model's (see PreviewWriter.faces)
PREVIEW_MAX_HEIGHT = 720  # taller videos get a preview scaled down by a whole factor to at most this (None: never)
_QUEUED_FRAMES = 3  # drawn frames waiting for the encoder (memory: 3 frames)


def _finger_of(k: int) -> int:
    return (k - 1) // 4


def _paint_groups(depth: np.ndarray, facing: np.ndarray):
    """Faces in painter's order, cut into runs that one fillPoly call each can draw.

    Args:
        depth: (F,) face depths, metres.  facing: (F,) cosine between normal and view, > 0.

    Returns:
        order: (F,) face indices, far to near by slab; runs: [(start, end, RGB colour)] over
        `order`: DEPTH_SLABS slabs of equal depth range, within a slab one run per shade
        level (SHADE_LEVELS). Faces of one run do not overlap in practice (a thin slab of
        the surface seen from one side), which matters because fillPoly fills by the
        even-odd rule. About 60 calls instead of one per face: the same picture within a
        shade level, at a fraction of the cost.
    """
    level = np.minimum((facing * SHADE_LEVELS).astype(np.int64), SHADE_LEVELS - 1)
    span = max(float(depth.max() - depth.min()), 1e-9)
    slab = np.minimum(((depth - depth.min()) * (DEPTH_SLABS / span)).astype(np.int64), DEPTH_SLABS - 1)
    key = (DEPTH_SLABS - 1 - slab) * SHADE_LEVELS + level
    order = np.argsort(key, kind="stable")
    bounds = (np.flatnonzero(np.diff(key[order])) + 1).tolist()
    starts, ends = [0] + bounds, bounds + [len(order)]
    levels = level[order[starts]].tolist()
    return order, [(a, b, _SHADES[lv]) for a, b, lv in zip(starts, ends, levels)]


_SHADES = [((0.35 + 0.65 * (k + 0.5) / SHADE_LEVELS) * MESH_COLOUR).astype(np.uint8).tolist()
           for k in range(SHADE_LEVELS)]


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
        a, b, c = verts_cam[faces[:, 0]], verts_cam[faces[:, 1]], verts_cam[faces[:, 2]]
        normal = np.cross(b - a, c - a)
        centre = (a + b + c) / 3
        # cosine between the normal and the view ray (einsum: the axis-1 sums of np.linalg.norm
        # and .sum(1) were a fifth of the drawing time)
        dot = -np.einsum("ij,ij->i", normal, centre)
        lengths = np.sqrt(np.einsum("ij,ij->i", normal, normal) * np.einsum("ij,ij->i", centre, centre))
        facing = dot / np.maximum(lengths, 1e-12)
        keep = facing > 0  # back faces hidden
        # the hand's box on the image, one pixel of margin: only there is anything blended
        x0, y0 = np.floor(uv.min(0)).astype(int) - 1
        x1, y1 = np.ceil(uv.max(0)).astype(int) + 2
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, W), min(y1, H)
        if x1 > x0 and y1 > y0:
            roi = image[y0:y1, x0:x1]
            overlay = roi.copy()
            # 4 bits of sub-pixel precision, coordinates relative to the box
            order, runs = _paint_groups(centre[keep, 2], facing[keep])
            polys = np.round((uv[faces[keep][order]] - (x0, y0)) * 16).astype(np.int32)
            for a, b, colour in runs:
                cv2.fillPoly(overlay, polys[a:b], colour, lineType=cv2.LINE_8, shift=4)
            cv2.addWeighted(overlay, alpha, roi, 1 - alpha, 0, dst=roi)
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
    return image


def _encoder(path: Path, width: int, height: int, fps: float) -> subprocess.Popen:
    """x264 in its own process, fed raw yuv420p frames of width x height (both even)."""
    import shutil

    if shutil.which("ffmpeg") is None:
        raise DependencyError("ffmpeg", "the preview video (apt-get install ffmpeg)")
    import ffmpeg

    # the frames arrive as yuv420p (`_to_i420`): ffmpeg's own RGB conversion cost as much as x264
    stream = (ffmpeg.input("pipe:", format="rawvideo", pix_fmt="yuv420p", s=f"{width}x{height}", framerate=fps)
              .output(str(path), vcodec="libx264", pix_fmt="yuv420p", preset=PREVIEW_PRESET, crf=23,
                      movflags="+faststart", format="mp4", r=fps)
              .overwrite_output().global_args("-loglevel", "error"))
    # own process group: Ctrl-C reaches only handmocap, which ends the encoder itself
    return subprocess.Popen(stream.compile(), stdin=subprocess.PIPE, stderr=subprocess.PIPE, process_group=0)


def _to_i420(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H*3/2, W) planar yuv420p of its even-sized top-left part.
    Colours as ffmpeg's own conversion to about one level, at a fraction of its cost."""
    H, W = image.shape[:2]
    return cv2.cvtColor(image[:H - H % 2, :W - W % 2], cv2.COLOR_RGB2YUV_I420)


def preview_size(width: int, height: int, max_height: int | None = PREVIEW_MAX_HEIGHT) -> tuple[int, int]:
    """(width, height) of the preview of a width x height video: the same, or divided by the
    smallest whole factor that brings it to at most max_height lines (1080 -> 540, 1440 -> 720,
    2160 -> 720), aspect ratio kept. A whole factor makes the downscale an exact box average
    (OpenCV's fast path: 0.4 ms a frame at 1440x1080, 1.4 ms for 2/3), and at 1080p leaves
    0.56x the pixels of a 720-line preview to draw and encode. The encoder crops an odd size
    by one line (yuv420p)."""
    if max_height is None or height <= max_height:
        return width, height
    factor = -(-height // max_height)
    return max(1, int(round(width / factor))), max(1, int(round(height / factor)))


def preview_camera(K: np.ndarray, width: int, height: int, max_height: int | None = PREVIEW_MAX_HEIGHT):
    """The preview's geometry for a width x height video with intrinsics K (3, 3).

    Returns (Wp, Hp, K_preview (3, 3), scale (2,), shift (2,)): a keypoint u (px) lands at
    u * scale + shift on the preview (pixel centres scale about the image corner:
    u' = s (u + 0.5) - 0.5)."""
    Wp, Hp = preview_size(width, height, max_height)
    sx, sy = Wp / width, Hp / height
    Kp = np.diag([sx, sy, 1.0]) @ K
    Kp[0, 2], Kp[1, 2] = sx * (K[0, 2] + 0.5) - 0.5, sy * (K[1, 2] + 0.5) - 0.5
    return Wp, Hp, Kp, np.array([sx, sy]), np.array([sx, sy]) * 0.5 - 0.5


@functools.lru_cache(maxsize=8)
def preview_faces(hand_model: str | None, side: str) -> np.ndarray:
    """(F, 3) the triangles a preview draws for one hand model and side: at most
    PREVIEW_MAX_FACES over the model's own vertices (`geometry.decimate`). The open hand
    model's 3,370 made drawing cost more than decoding; 1,500 halve it, and the silhouette
    stays close (IoU 0.985 on average, 0.977 at the least, random poses at 180 px). Once per
    process: the decimation takes ~75 ms, a batch of short clips would pay it per input."""
    from ..geometry.decimate import decimate_faces

    model = HandModel(hand_model, side=side)
    faces = decimate_faces(model.v_template.numpy(), model.faces.numpy(), PREVIEW_MAX_FACES)
    faces.setflags(write=False)
    return faces


class PreviewWriter:
    """Draws hands onto preview-sized frames and encodes them (ffmpeg, own process, fed by a
    writer thread), into a hidden file that `finish` moves to `path` (atomic).

    K: (3, 3) intrinsics of the preview-sized image (`preview_camera`).
    """

    def __init__(self, path: str | Path, width: int, height: int, fps: float, K: np.ndarray,
                 hand_model: str | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.path.with_name(f".{self.path.name}.partial.mp4")
        self.size, self.K, self.hand_model = (int(width), int(height)), K, hand_model
        self._proc = _encoder(self.tmp, width - width % 2, height - height % 2, fps)  # yuv420p: even
        self._writer = _PipeWriter(self._proc.stdin, self.path)

    def faces(self, side: str) -> np.ndarray:
        """(F, 3) the triangles drawn for `side` (`preview_faces`)."""
        return preview_faces(self.hand_model, side)

    def write(self, image: np.ndarray, hands) -> None:
        """Draw `hands` on `image` ((Hp, Wp, 3) uint8 RGB, drawn on in place) and queue it.

        hands: [(track_id, side, detected, keypoints_px (21, 2) on the preview, vertices_cam
        (V, 3) or None)]."""
        for track_id, side, detected, keypoints, verts in hands:
            label = f"{side} #{track_id}" + ("" if detected else " (bridged)")
            draw_hand(image, verts, self.faces(side), self.K, keypoints if detected else None, label)
        self._writer.write(_to_i420(image))

    def finish(self) -> Path:
        """Wait for the encoder and move the file into place."""
        self._writer.finish()
        err = self._proc.stderr.read().decode(errors="replace").strip()
        if self._proc.wait() != 0 or self._writer.error is not None:
            detail = err.splitlines()[-1] if err else (str(self._writer.error) if self._writer.error else "unknown error")
            raise InputError(self.path, f"ffmpeg could not encode the preview: {detail}")
        os.replace(self.tmp, self.path)
        return self.path

    def close(self) -> None:
        """End the encoder and remove the partial file unless `finish` ran (idempotent)."""
        if self._proc.poll() is None:  # an error or interrupt: the encoder goes first, so no write blocks
            self._proc.kill()
            self._proc.wait()
        self._writer.abort()
        if self.tmp.exists():
            self.tmp.unlink()


def export_preview(motion: Motion, video: str | Path, path: str | Path, hand_model: str | None = None,
                   info=None, max_height: int | None = PREVIEW_MAX_HEIGHT) -> Path:
    """Write the preview MP4 of `motion` over its source `video` atomically; returns `path`.

    info: the video's `VideoInfo` when the caller has probed it already.
    max_height: videos taller than this get a preview scaled down to it (decoding,
        scaling, drawing and encoding all cost less); None: the video's own size.
    """
    from ..video import open_frames, prefetch, probe_once

    info = info or probe_once(video, stream=motion.extra.get("video_stream"))
    W, H = motion.image_size
    if (info.width, info.height) != (W, H):
        raise InputError(video, f"frame size {info.width}x{info.height} differs from the motion's {W}x{H}")
    Wp, Hp, K, scale, shift = preview_camera(motion.camera.matrix, W, H, max_height)
    per_frame = iter_camera_space_vertices(motion, hand_model)  # lazily, in step with the video
    kp = {}
    for t in motion.tracks:
        for i, f in enumerate(t.frame_index):
            kp[(t.track_id, int(f))] = (t.keypoints_px[i] * scale + shift, t.side, bool(t.detected[i]))
    # decoded (and scaled) a few frames ahead in a thread
    frames = prefetch(open_frames(video, info=info, size=(Wp, Hp)))
    writer = PreviewWriter(path, Wp, Hp, motion.fps, K, hand_model)
    try:
        drawn, hands = -1, {}
        for frame in frames:
            if frame.index >= motion.num_frames:
                break
            image = frame.image if frame.image.flags.writeable else frame.image.copy()
            image = np.ascontiguousarray(image)
            if image.shape[:2] != (Hp, Wp):
                raise InputError(video, f"frame size {image.shape[1]}x{image.shape[0]} differs from the motion's {W}x{H}")
            while frame.index > drawn:  # frames the decoder skipped still consume their meshes
                hands, drawn = next(per_frame), drawn + 1
            writer.write(image, [(track_id, *kp[(track_id, frame.index)][1:], kp[(track_id, frame.index)][0], verts)
                                 for track_id, verts in hands.items()])
        return writer.finish()
    finally:
        frames.close()
        writer.close()


class _PipeWriter:
    """Writes frames to the encoder's stdin from a thread (a pipe write releases the GIL), a
    few frames behind the drawing; `finish` closes the pipe once all are written."""

    def __init__(self, stdin, path: Path):
        import queue
        import threading

        self._stdin, self._path = stdin, path
        self._queue: queue.Queue = queue.Queue(maxsize=_QUEUED_FRAMES)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="handmocap-preview-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            image = self._queue.get()
            if image is None:
                break
            if self.error is None:
                try:
                    self._stdin.write(memoryview(image).cast("B"))
                except (OSError, ValueError) as exc:  # the encoder died: reported by finish()
                    self.error = exc
        try:
            self._stdin.close()
        except (OSError, ValueError):
            pass

    def write(self, image: np.ndarray) -> None:
        if self.error is not None:
            raise InputError(self._path, f"ffmpeg stopped taking preview frames ({self.error})")
        self._queue.put(image)

    def finish(self) -> None:
        self._queue.put(None)
        self._thread.join()

    def abort(self) -> None:
        """Stop at once (on an error or interrupt): drop queued frames, close the pipe."""
        if self._thread.is_alive():
            self.error = self.error or InterruptedError("aborted")
            while True:
                try:
                    self._queue.get_nowait()
                except Exception:
                    break
            self._queue.put(None)
            self._thread.join(timeout=5)
