"""What an input is before decoding it: size, frame rate, frame count, rotation, timing.

`probe(path)` answers for a video file (ffprobe through ffmpeg-python; cv2 when ffprobe is
not installed), an image folder (an image sequence) or a single image. Every failure is an
`InputError` whose message names the file and says what is wrong in one line.

Conventions:
    width, height: display orientation, i.e. after applying the rotation metadata.
    rotation_deg: clockwise degrees that turn the stored frames upright (0/90/180/270),
        the convention of the legacy ``rotate`` tag: 90 for a phone filmed in portrait.
        (ffprobe's display-matrix ``rotation`` is counter-clockwise: rotation_deg = -that.)
"""
from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import InputError

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"})
VIDEO_EXTENSIONS = frozenset({".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".mpg", ".mpeg",
                              ".wmv", ".flv", ".ts", ".mts", ".m2ts", ".3gp", ".ogv"})
# Images carry no timing: image folders and single images are given this nominal rate, so
# frame i has timestamp i / IMAGE_FPS.
IMAGE_FPS = 30.0
# How many leading packets the VFR check reads (demuxing only, milliseconds even for 4K).
_VFR_PACKETS = 300
_VFR_SPREAD = 0.2  # relative spread of frame durations above which a video counts as VFR


@dataclass(frozen=True)
class VideoInfo:
    """Static facts about one input.

    Attributes:
        path: the input file or folder.
        kind: "video", "images" (a folder of images, one frame each, natural sort order)
            or "image" (a single image).
        width, height: frame size in pixels, display orientation (after rotation).
        fps: nominal frames per second (the average rate for variable-rate videos;
            `IMAGE_FPS` for images).
        num_frames: frame count (exact when the container stores it, else estimated from
            the duration).
        duration_s: seconds.
        rotation_deg: clockwise rotation applied to stored frames to show them upright.
        variable_frame_rate: True when frame durations vary (phone videos often do):
            use `Frame.timestamp_s`, never index / fps.
        codec: the video codec name ("h264", "hevc", ...), the image format for images.
        stream_index: the decoded stream's index in the file (ffprobe's "#0:N"); None for
            images and when probed without ffprobe.
        video_streams: how many video streams the file has (attached pictures excluded).
    """

    path: Path
    kind: str
    width: int
    height: int
    fps: float
    num_frames: int
    duration_s: float
    rotation_deg: int = 0
    variable_frame_rate: bool = False
    codec: str | None = None
    stream_index: int | None = None
    video_streams: int = 1


def have_ffprobe() -> bool:
    """True when the ffprobe executable is on PATH."""
    return shutil.which("ffprobe") is not None


def have_ffmpeg() -> bool:
    """True when the ffmpeg executable is on PATH."""
    return shutil.which("ffmpeg") is not None


def probe(path: str | Path, stream: int | None = None) -> VideoInfo:
    """Describe a video file, an image folder or a single image.

    Args:
        path: the input.
        stream: which stream of a video file to describe (its index, as ffprobe prints it:
            "Stream #0:N"); None picks the one ffmpeg picks (`choose_video_stream`).

    Raises:
        InputError: missing path, unreadable file, empty file, folder without images, not
            a video or image, no video stream, no such stream, or a container ffprobe cannot
            parse (e.g. an mp4 cut short before its index).
    """
    path = Path(path)
    if path.is_dir():
        return _probe_folder(path)
    check_readable_file(path)
    if path.suffix.lower() in IMAGE_EXTENSIONS:
        return _probe_image(path)
    if have_ffprobe():
        return _probe_ffprobe(path, stream)
    if stream is not None:
        raise InputError(path, f"choosing stream {stream} needs ffprobe (apt-get install ffmpeg)")
    log.debug("ffprobe not found, probing %s with cv2", path)
    return _probe_cv2(path)


def _stream_score(s: dict) -> int:
    """ffmpeg's own rule for its default video stream (fftools, map_auto_video): the most
    pixels, plus a bonus for the "default" disposition; attached pictures (cover art) last."""
    disposition = s.get("disposition") or {}
    if disposition.get("attached_pic"):
        return 1
    return int(s.get("width") or 0) * int(s.get("height") or 0) + 5_000_000 * bool(disposition.get("default"))


def choose_video_stream(streams: list[dict]) -> dict | None:
    """The video stream ffmpeg picks by default from ffprobe's stream list (ties: the
    lowest index), skipping attached pictures; None when there is none."""
    videos = [s for s in streams if s.get("codec_type") == "video"
              and not (s.get("disposition") or {}).get("attached_pic")]
    best = None
    for s in videos:  # strictly greater wins, as in ffmpeg: the first of equals stays
        if best is None or _stream_score(s) > _stream_score(best):
            best = s
    return best


def _describe_streams(streams: list[dict]) -> str:
    return ", ".join(f"#0:{s.get('index')} {s.get('codec_type')}"
                     + (f" {s.get('width')}x{s.get('height')}" if s.get("codec_type") == "video" else "")
                     for s in streams) or "none"


def check_readable_file(path: str | Path) -> None:
    """Raise `InputError` unless `path` is an existing, non-empty, readable regular file."""
    path = Path(path)
    if not path.exists():
        raise InputError(path, "no such file or folder")
    if path.is_dir():
        raise InputError(path, "is a folder, expected a file")
    if not path.is_file():
        raise InputError(path, "not a regular file")
    try:
        with open(path, "rb") as fh:
            head = fh.read(1)
    except PermissionError:
        raise InputError(path, "permission denied (cannot read the file)") from None
    except OSError as exc:
        raise InputError(path, f"cannot read the file ({exc.strerror or exc})") from None
    if not head:
        raise InputError(path, "empty file (0 bytes)")


# ---------------------------------------------------------------------------------- images
def natural_key(path: Path) -> list:
    """Sort key that puts frame2.png before frame10.png."""
    import re

    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def folder_images(folder: Path) -> list[Path]:
    """The images directly inside `folder`, in natural order (hidden files skipped)."""
    try:
        entries = list(folder.iterdir())
    except PermissionError:
        raise InputError(folder, "permission denied (cannot list the folder)") from None
    return sorted((p for p in entries if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() in IMAGE_EXTENSIONS), key=natural_key)


def read_image(path: str | Path) -> np.ndarray:
    """Read one image as (H, W, 3) uint8 RGB, upright.

    IMREAD_COLOR applies the EXIF orientation, repeats grey to three channels, drops alpha
    and scales 16-bit to 8-bit, which is what every later stage expects.
    """
    import cv2

    path = Path(path)
    check_readable_file(path)
    # imdecode from bytes rather than imread: non-ASCII paths work everywhere
    img = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        raise InputError(path, "not a readable image (unknown format or corrupt data)")
    return np.ascontiguousarray(img[:, :, ::-1])


def _probe_image(path: Path) -> VideoInfo:
    img = read_image(path)
    return VideoInfo(path=path, kind="image", width=img.shape[1], height=img.shape[0], fps=IMAGE_FPS,
                     num_frames=1, duration_s=1.0 / IMAGE_FPS, codec=path.suffix.lower().lstrip("."))


def _probe_folder(path: Path) -> VideoInfo:
    images = folder_images(path)
    if not images:
        raise InputError(path, "folder contains no images (" + ", ".join(sorted(IMAGE_EXTENSIONS)) + ")")
    first = read_image(images[0])
    return VideoInfo(path=path, kind="images", width=first.shape[1], height=first.shape[0], fps=IMAGE_FPS,
                     num_frames=len(images), duration_s=len(images) / IMAGE_FPS,
                     codec=images[0].suffix.lower().lstrip("."))


# ---------------------------------------------------------------------------------- videos
def _ffprobe_reason(stderr: bytes | str | None) -> str:
    """ffmpeg/ffprobe stderr condensed to one line: distinct messages, without the
    "[mov,mp4 @ 0x...]" and "<path>:" prefixes (the error names the file already)."""
    import re

    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    messages: list[str] = []
    for line in text.splitlines():
        line = re.sub(r"^(\[[^\]]*\]\s*)+", "", line.strip())
        line = line.rsplit(": ", 1)[-1] if re.match(r"^\S.*\.\w+: ", line) else line
        if line and line not in messages:
            messages.append(line)
    return "; ".join(messages[-3:]) if messages else "ffprobe failed"


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\0" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _explain(path: Path, reason: str) -> str:
    """A failed probe's reason, with what the file most likely is."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        head = b""
    if _looks_like_text(head[:4000]):
        return f"not a video (the file holds text) ({reason})"
    if "moov atom not found" in reason.lower() and head[4:8] == b"ftyp":
        return f"truncated or corrupt video: the mp4/mov index (moov) is missing ({reason})"
    return f"not a video or corrupt data ({reason})"


def _rate(text: str | None) -> float:
    try:
        value = float(Fraction(text)) if text else 0.0
    except (ValueError, ZeroDivisionError):
        return 0.0
    return value if math.isfinite(value) and value > 0 else 0.0


def _rotation_cw(stream: dict) -> int:
    """Clockwise display rotation from the display matrix (newer ffmpeg) or the rotate tag."""
    for side in stream.get("side_data_list") or []:
        if "rotation" in side:
            return int(round(-float(side["rotation"]) / 90.0)) * 90 % 360
    tag = (stream.get("tags") or {}).get("rotate")
    if tag is not None:
        try:
            return int(round(float(tag) / 90.0)) * 90 % 360
        except ValueError:
            return 0
    return 0


def _ffprobe_json(args: list[str], path: Path) -> dict:
    cmd = ["ffprobe", "-v", "error", "-print_format", "json", *args, str(path)]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=120)
    except subprocess.TimeoutExpired:
        raise InputError(path, "ffprobe did not finish within 120 s (unreadable or stalled input)") from None
    if proc.returncode != 0:
        raise InputError(path, _explain(path, _ffprobe_reason(proc.stderr)))
    try:
        return json.loads(proc.stdout.decode("utf-8", "replace") or "{}")
    except json.JSONDecodeError:
        raise InputError(path, "ffprobe returned unreadable output") from None


def _probe_ffprobe(path: Path, stream: int | None = None) -> VideoInfo:
    import ffmpeg  # ffmpeg-python: the probing front end named in the design

    try:
        # one ffprobe run: streams, format, and the first packets' times for the VFR check
        meta = ffmpeg.probe(str(path), v="error", read_intervals=f"%+#{_VFR_PACKETS}",
                            show_entries="packet=stream_index,pts_time")
    except ffmpeg.Error as exc:
        raise InputError(path, _explain(path, _ffprobe_reason(exc.stderr))) from None
    all_streams = meta.get("streams", [])
    streams = [s for s in all_streams if s.get("codec_type") == "video"
               and not (s.get("disposition") or {}).get("attached_pic")]
    if stream is not None:
        s = next((t for t in all_streams if t.get("index") == stream), None)
        if s is None or s.get("codec_type") != "video":
            what = (f"has no stream {stream}" if s is None
                    else f"stream {stream} is {s.get('codec_type') or 'unknown'}, not video")
            raise InputError(path, f"--stream {stream}: {what} (streams: {_describe_streams(all_streams)})")
    elif not streams:
        what = "an audio-only file" if any(s.get("codec_type") == "audio" for s in all_streams) \
            else "not a video"
        raise InputError(path, f"no video stream ({what})")
    else:
        s = choose_video_stream(all_streams)
    w, h = int(s.get("width") or 0), int(s.get("height") or 0)
    if w <= 0 or h <= 0:
        raise InputError(path, "video stream has no frame size (corrupt header?)")
    rot = _rotation_cw(s)
    if rot in (90, 270):
        w, h = h, w
    fmt = meta.get("format") or {}
    duration = _first_float(s.get("duration"), fmt.get("duration"))
    avg, real = _rate(s.get("avg_frame_rate")), _rate(s.get("r_frame_rate"))
    fps = avg or real
    nb = int(s.get("nb_frames") or 0)
    if nb <= 0:  # mkv/webm store no frame count: count packets (demuxing only, no decode)
        counted = _ffprobe_json(["-select_streams", str(s.get("index", "v:0")), "-count_packets",
                                 "-show_entries", "stream=nb_read_packets"], path)
        nb = int(((counted.get("streams") or [{}])[0]).get("nb_read_packets") or 0)
    if not fps and nb and duration:
        fps = nb / duration
    if not fps:
        raise InputError(path, "cannot tell the frame rate of the video stream")
    if nb <= 0:
        nb = int(round(duration * fps)) if duration else 0
    if not duration:
        duration = nb / fps
    if nb <= 0:
        raise InputError(path, "video stream has no frames")
    pts = [p.get("pts_time") for p in meta.get("packets", []) if p.get("stream_index") == s.get("index")]
    vfr = _is_vfr(pts, avg, real)
    return VideoInfo(path=path, kind="video", width=w, height=h, fps=float(fps), num_frames=nb,
                     duration_s=float(duration), rotation_deg=rot, variable_frame_rate=vfr,
                     codec=s.get("codec_name"), stream_index=s.get("index"),
                     video_streams=max(len(streams), 1))


def _first_float(*values) -> float:
    for v in values:
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f) and f > 0:
            return f
    return 0.0


def _is_vfr(pts_times: list, avg: float, real: float) -> bool:
    """Frame durations vary: the stream's two rates disagree, or the first packets' times
    (sorted into presentation order) are unevenly spaced."""
    if avg and real and abs(avg - real) > 0.01 * real:
        return True
    pts = np.sort([float(t) for t in pts_times if t not in (None, "N/A")])
    d = np.diff(pts)
    d = d[d > 0]
    if len(d) < 3:
        return False
    return bool((d.max() - d.min()) > _VFR_SPREAD * float(np.median(d)))


def _probe_cv2(path: Path) -> VideoInfo:
    """Probe with OpenCV's FFmpeg backend (used when ffprobe is missing)."""
    import cv2

    cap = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not cap.isOpened():
            raise InputError(path, "not a video or corrupt data (OpenCV cannot open it)")
        w = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
        h = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        # OpenCV reports the clockwise angle of the display matrix, like our rotation_deg
        rot = int(round(float(cap.get(cv2.CAP_PROP_ORIENTATION_META) or 0) / 90.0)) * 90 % 360
        ok = cap.grab()
    finally:
        cap.release()
    if not ok or w <= 0 or h <= 0:
        raise InputError(path, "not a video or corrupt data (OpenCV decodes no frame)")
    if not (math.isfinite(fps) and fps > 0):
        raise InputError(path, "cannot tell the frame rate of the video stream")
    if rot in (90, 270):
        w, h = h, w
    n = max(n, 1)
    return VideoInfo(path=path, kind="video", width=w, height=h, fps=fps, num_frames=n,
                     duration_s=n / fps, rotation_deg=rot, variable_frame_rate=False, codec=None)


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_EXTENSIONS


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


__all__ = ["VideoInfo", "probe", "choose_video_stream", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "IMAGE_FPS", "read_image",
           "folder_images", "natural_key", "check_readable_file", "have_ffmpeg", "have_ffprobe"]
