"""Streamed decoding: frames one at a time, upright, RGB, with their real timestamps.

`open_frames` never holds more than one frame (plus the decoder's own few-frame queue), so
memory stays flat however long the video is. Decoders:

- "ffmpeg": an ``ffmpeg`` process writes rawvideo rgb24 into a pipe that is read one frame
  at a time (the OS pipe buffer, 64 KiB, throttles ffmpeg). A ``showinfo`` filter logs
  each frame's presentation time on stderr, which a reader thread collects, so timestamps
  of variable-frame-rate videos are the real ones. ``-fps_mode passthrough`` keeps ffmpeg
  from duplicating or dropping frames to make the rate constant. ffmpeg applies rotation
  metadata itself (autorotate). The process is killed when the generator is closed,
  garbage-collected or left by an exception.
- "cv2": OpenCV's VideoCapture (its FFmpeg backend); we rotate by the probed rotation.
- "auto": cv2 when OpenCV opens the video, else ffmpeg; ffmpeg also when start_s is given
  (it seeks; cv2 decodes its way there). In-process decoding has no process start-up and
  no pipe copy: measured 1.2-6x the frames/s of the ffmpeg pipe (`python -m bench.decode`),
  with the same frames (within swscale rounding), timestamps and rotation.

Errors: anything wrong before the first frame raises `InputError` at once, from
`open_frames` itself; a video that breaks off midway (truncated or corrupt data) yields the
frames that decode and then raises `InputError` naming the frame where decoding stopped.
"""
from __future__ import annotations

import collections
import functools
import logging
import queue
import re
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import HandmocapError, InputError
from .probe import IMAGE_FPS, VideoInfo, _ffprobe_reason, folder_images, have_ffmpeg, probe, read_image

log = logging.getLogger(__name__)

DECODERS = ("auto", "ffmpeg", "cv2")
_SHOWINFO = re.compile(rb"\[Parsed_showinfo_\d+ @ [^\]]*\] (?:\[info\] )?n:\s*(\d+)\s+pts:\s*(\S+)\s+pts_time:(\S+)")
_ERROR = re.compile(rb"\[(error|fatal|panic)\] ")
_PTS_WAIT_S = 30.0  # the showinfo line of a frame is written before the frame itself


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame.

    Attributes:
        index: frame number in the whole input (0-based; counts every frame of the video,
            also the ones skipped by `stride` or before `start_s`).
        timestamp_s: presentation time in seconds from the start of the input (the real
            pts: correct for variable frame rates). Images: index / IMAGE_FPS.
        image: (H, W, 3) uint8 RGB, display orientation (rotation metadata applied).
    """

    index: int
    timestamp_s: float
    image: np.ndarray


def open_frames(path: str | Path, *, max_frames: int | None = None, stride: int = 1,
                start_s: float | None = None, end_s: float | None = None, decoder: str = "auto",
                info: VideoInfo | None = None, stream: int | None = None,
                size: tuple[int, int] | None = None, decoder_threads: int | None = None) -> Iterator[Frame]:
    """Stream the frames of a video, an image folder or a single image.

    Args:
        path: video file, folder of images (natural sort order) or image file.
        max_frames: stop after yielding this many frames (None: all).
        stride: yield every stride-th frame (1: all).
        start_s, end_s: yield frames with start_s <= timestamp_s < end_s (None: open end).
        decoder: "auto", "ffmpeg" or "cv2" (videos only).
        info: the input's `VideoInfo` when the caller has probed it already.
        stream: the video stream to decode (see `probe`); ignored when `info` is given.
        size: (width, height) to scale every frame to (area filter; done by ffmpeg itself
            when it decodes), or None for the video's own (upright) size.
        decoder_threads: threads of OpenCV's decoder (None: its default, one per core). One
            when decoding runs on its own core beside other work (`prefetch`).

    Returns:
        An iterator of `Frame`; closing it (or leaving a for loop) ends the decoder process.

    Raises:
        InputError: at once when the input cannot be used (see `probe`); while iterating,
            when decoding breaks off (after the frames that decoded).
        HandmocapError: bad arguments, or decoder="ffmpeg" without an ffmpeg executable.
    """
    if decoder not in DECODERS:
        raise HandmocapError(f"decoder must be one of {DECODERS}, got {decoder!r}")
    if int(stride) != stride or stride < 1:
        raise HandmocapError(f"stride must be a positive integer, got {stride!r}")
    if max_frames is not None and (int(max_frames) != max_frames or max_frames < 0):
        raise HandmocapError(f"max_frames must be a non-negative integer or None, got {max_frames!r}")
    if start_s is not None and start_s < 0:
        raise HandmocapError(f"start_s must be >= 0, got {start_s!r}")
    if start_s is not None and end_s is not None and end_s <= start_s:
        raise HandmocapError(f"end_s ({end_s}) must be after start_s ({start_s})")
    if size is not None and (len(size) != 2 or any(int(v) != v or v < 1 for v in size)):
        raise HandmocapError(f"size must be (width, height) in positive pixels, got {size!r}")
    info = info if info is not None else probe(path, stream=stream)
    window = _Window(int(max_frames) if max_frames is not None else None, int(stride), start_s, end_s)
    size = None if size is None or tuple(size) == (info.width, info.height) else (int(size[0]), int(size[1]))
    if info.kind in ("image", "images"):
        return _resized(_image_frames(info, window), size)
    if decoder == "ffmpeg" and not have_ffmpeg():
        raise HandmocapError("decoder='ffmpeg' needs the ffmpeg executable on PATH (apt-get install ffmpeg)")
    # cv2 cannot choose among several video streams: ffmpeg decodes the chosen one
    several = (info.video_streams or 1) > 1
    if decoder == "ffmpeg" or (decoder == "auto" and (start_s or several) and have_ffmpeg()):
        return _ffmpeg_frames(info, window, size)
    fallback = (lambda: _ffmpeg_frames(info, window)) if decoder == "auto" and have_ffmpeg() else None
    return _resized(_cv2_frames(info, window, fallback, decoder_threads), size)


def _resized(frames: Iterator[Frame], size: tuple[int, int] | None) -> Iterator[Frame]:
    if size is None:
        return frames
    import cv2

    def gen():
        try:
            for f in frames:
                yield Frame(f.index, f.timestamp_s, cv2.resize(f.image, size, interpolation=cv2.INTER_AREA))
        finally:
            frames.close()

    return gen()


def probe_once(path: str | Path, stream: int | None = None) -> VideoInfo:
    """`probe`, remembered for the file as it is now (path, size and modification time), so
    that the stages of one input (tracking, then the preview) probe it once. Errors are not
    remembered."""
    import os

    p = Path(path).resolve()
    try:
        st = os.stat(p)
    except OSError:
        return probe(path, stream=stream)
    return _probe_memo(p, st.st_size, st.st_mtime_ns, stream)


@functools.lru_cache(maxsize=8)
def _probe_memo(path: Path, size: int, mtime_ns: int, stream: int | None) -> VideoInfo:
    return probe(path, stream=stream)


@dataclass(frozen=True)
class _Window:
    max_frames: int | None
    stride: int
    start_s: float | None
    end_s: float | None

    def after_end(self, t: float) -> bool:
        return self.end_s is not None and t >= self.end_s - 1e-6


# ---------------------------------------------------------------------------------- images
def _image_frames(info: VideoInfo, win: _Window) -> Iterator[Frame]:
    files = [info.path] if info.kind == "image" else folder_images(info.path)
    first = int(np.ceil((win.start_s or 0.0) * IMAGE_FPS - 1e-6))  # first index in the window
    yielded = 0
    for i, f in enumerate(files):
        t = i / IMAGE_FPS
        if i < first:
            continue
        if win.after_end(t) or (win.max_frames is not None and yielded >= win.max_frames):
            return
        if (i - first) % win.stride:
            continue
        img = read_image(f)
        if img.shape[:2] != (info.height, info.width):
            raise InputError(f, f"image size {img.shape[1]}x{img.shape[0]} differs from the sequence's "
                                f"{info.width}x{info.height}")
        yielded += 1
        yield Frame(i, t, img)


# ---------------------------------------------------------------------------------- ffmpeg
@functools.lru_cache(maxsize=1)
def _ffmpeg_version() -> tuple[int, int]:
    try:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True, timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return (0, 0)
    m = re.search(rb"ffmpeg version n?(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else (99, 0)  # git builds: assume new


@functools.lru_cache(maxsize=1)
def _showinfo_filter() -> str:
    """showinfo without its per-plane checksums (a third of the decode time at 720p) where
    this ffmpeg has the option."""
    try:
        out = subprocess.run(["ffmpeg", "-hide_banner", "-h", "filter=showinfo"], capture_output=True,
                             timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        out = b""
    return "showinfo=checksum=0" if b"checksum" in out else "showinfo"


def _passthrough_args() -> list[str]:
    # -fps_mode exists from ffmpeg 5.1; older ones spell it -vsync
    return ["-fps_mode", "passthrough"] if _ffmpeg_version() >= (5, 1) else ["-vsync", "passthrough"]


def _frames_before(path: Path, t: float, stream: str = "v:0") -> int:
    """How many frames have a presentation time before `t` seconds (packets, no decoding)."""
    import json

    cmd = ["ffprobe", "-v", "error", "-select_streams", stream, "-read_intervals", f"%{t + 2.0:.6f}",
           "-show_entries", "packet=pts_time:stream=start_time", "-print_format", "json", str(path)]
    try:
        out = json.loads(subprocess.run(cmd, capture_output=True, timeout=120).stdout or b"{}")
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return 0
    start = float(((out.get("streams") or [{}])[0]).get("start_time") or 0.0)
    pts = [float(p["pts_time"]) - start for p in out.get("packets", []) if p.get("pts_time") not in (None, "N/A")]
    return int(sum(p < t - 1e-6 for p in pts))


class _StderrReader(threading.Thread):
    """Collects ffmpeg's stderr: frame times from showinfo, error lines for the report."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.pts: queue.Queue = queue.Queue()
        self.errors: collections.deque = collections.deque(maxlen=20)

    def run(self) -> None:
        try:
            for line in self.stream:
                m = _SHOWINFO.search(line)
                if m:
                    try:
                        self.pts.put(float(m.group(3)))
                    except ValueError:  # NOPTS
                        self.pts.put(None)
                elif _ERROR.search(line):
                    self.errors.append(line)
        except (OSError, ValueError):
            pass
        finally:
            self.pts.put(StopIteration)

    def next_pts(self) -> float | None:
        try:
            item = self.pts.get(timeout=_PTS_WAIT_S)
        except queue.Empty:
            return None
        if item is StopIteration:
            self.pts.put(StopIteration)  # keep answering None at the end
            return None
        return item

    def reason(self) -> str:
        return _ffprobe_reason(b"".join(self.errors))


def _read_exact(stream, buf: memoryview) -> int:
    """Fill `buf` from `stream`; returns the bytes read (less than len(buf) only at EOF)."""
    got = 0
    while got < len(buf):
        n = stream.readinto(buf[got:])
        if not n:
            break
        got += n
    return got


def _ffmpeg_frames(info: VideoInfo, win: _Window, size: tuple[int, int] | None = None) -> Iterator[Frame]:
    path, (W, H) = info.path, size or (info.width, info.height)
    start = win.start_s or 0.0
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-nostats", "-loglevel", "level+info"]
    if start > 0:
        cmd += ["-ss", f"{start:.6f}"]  # input seeking, exact (ffmpeg decodes from the keyframe)
    # the stream the probe chose (ffmpeg's own pick, or --stream); 0:V:0 = first video
    # stream that is not cover art, when the probe could not tell
    stream = "v:0" if info.stream_index is None else str(info.stream_index)
    cmd += ["-i", str(path), "-map", "0:V:0" if info.stream_index is None else f"0:{stream}", "-an", "-sn", "-dn"]
    if win.end_s is not None:
        cmd += ["-t", f"{win.end_s - start:.6f}"]
    filters = ([f"select='not(mod(n\\,{win.stride}))'"] if win.stride > 1 else []) + [_showinfo_filter()]
    if size is not None:  # after autorotate (ffmpeg inserts it before -vf): size is upright
        filters.append(f"scale={W}:{H}:flags=area")
    cmd += ["-vf", ",".join(filters), *_passthrough_args(), "-f", "rawvideo", "-pix_fmt", "rgb24"]
    if win.max_frames is not None:
        cmd += ["-frames:v", str(win.max_frames)]
    cmd += ["pipe:1"]
    if win.max_frames == 0:
        return
    offset = _frames_before(path, start, stream) if start > 0 else 0
    frame_bytes = W * H * 3
    # own process group: a terminal's Ctrl-C reaches only us, and we end ffmpeg (so an
    # interrupt is never mistaken for a decoding failure)
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            bufsize=0, process_group=0)
    _widen_pipe(proc.stdout, frame_bytes)
    reader = _StderrReader(proc.stderr)
    reader.start()
    k = 0  # frames yielded
    last_t = None
    partial = 0
    try:
        while win.max_frames is None or k < win.max_frames:
            image = np.empty((H, W, 3), dtype=np.uint8)
            got = _read_exact(proc.stdout, memoryview(image).cast("B"))
            if got < frame_bytes:
                partial = got
                break
            pts = reader.next_pts()
            t = start + pts if pts is not None else (
                last_t + win.stride / info.fps if last_t is not None else start)
            if win.after_end(t):
                return  # past end_s (ffmpeg's -t normally stops it first)
            last_t = t
            yield Frame(offset + k * win.stride, t, image)
            k += 1
        else:
            return  # max_frames reached: no verdict on the rest of the file
        if win.end_s is not None and last_t is not None and win.after_end(last_t + 1.5 * win.stride / info.fps):
            return  # stopped by end_s
        proc.stdout.close()
        rc = proc.wait()
        reader.join(timeout=5)
        _check_ended_well(info, win, rc, reader.reason(), bool(reader.errors), partial, offset, k)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        for s in (proc.stdout, proc.stderr):
            if s and not s.closed:
                s.close()
        reader.join(timeout=5)


def _widen_pipe(stream, frame_bytes: int) -> None:
    """Let ffmpeg run up to a frame or two ahead of the reader: grow the pipe from 64 KiB
    towards the frame size (Linux; capped by /proc/sys/fs/pipe-max-size, 1 MiB by default)."""
    try:
        import fcntl

        setpipe = getattr(fcntl, "F_SETPIPE_SZ", 1031)
        for n in (2 * frame_bytes, frame_bytes, 1 << 20):
            try:
                fcntl.fcntl(stream.fileno(), setpipe, min(n, 1 << 24))
                return
            except OSError:
                continue
    except (ImportError, OSError, ValueError):
        pass


def _check_ended_well(info: VideoInfo, win: _Window, rc: int, reason: str, had_errors: bool, partial: int,
                      offset: int, k: int) -> None:
    """Raise `InputError` when the decoder stopped before the end of the video."""
    where = f"frame {offset + k * win.stride}"
    if k == 0 and (rc != 0 or had_errors):
        raise InputError(info.path, f"no frame could be decoded ({reason or f'ffmpeg exit status {rc}'})")
    if rc != 0:
        raise InputError(info.path, f"decoding failed at {where} of {info.num_frames} "
                                    f"({reason or f'ffmpeg exit status {rc}'})")
    if partial:
        raise InputError(info.path, f"decoding stopped inside {where} (incomplete frame data)")
    covered = offset + max(k - 1, 0) * win.stride + 1
    missing = info.num_frames - covered
    if had_errors and win.end_s is None and missing > win.stride + 1:
        raise InputError(info.path, f"truncated or corrupt video: decoding stopped at {where} of "
                                    f"{info.num_frames} ({reason})")
    if had_errors:
        log.warning("%s: decoder reported errors but decoded to the end: %s", info.path, reason)


# ---------------------------------------------------------------------------------- cv2
_CV2_ROTATE = {90: "ROTATE_90_CLOCKWISE", 180: "ROTATE_180", 270: "ROTATE_90_COUNTERCLOCKWISE"}


def _cv2_frames(info: VideoInfo, win: _Window, fallback=None, threads: int | None = None) -> Iterator[Frame]:
    """fallback: () -> the ffmpeg frames, for videos OpenCV cannot open. threads: the decoder's."""
    import cv2

    if win.max_frames == 0:
        return
    cap = cv2.VideoCapture(str(info.path), cv2.CAP_FFMPEG, [] if threads is None else [cv2.CAP_PROP_N_THREADS, threads])
    if not cap.isOpened() and fallback is not None:
        cap.release()
        yield from fallback()
        return
    try:
        if not cap.isOpened():
            raise InputError(info.path, "not a video or corrupt data (OpenCV cannot open it)")
        # one rotation rule for both decoders: ours, from the probe
        cap.set(cv2.CAP_PROP_ORIENTATION_AUTO, 0)
        rotate = getattr(cv2, _CV2_ROTATE[info.rotation_deg]) if info.rotation_deg in _CV2_ROTATE else None
        # no seeking: OpenCV seeks by frame number estimated from the nominal rate, which
        # lands wrong on variable-rate videos; grab() (decode, no colour conversion) instead
        index = 0
        first = None  # index of the first frame inside the window
        k = 0
        while win.max_frames is None or k < win.max_frames:
            if not cap.grab():
                break
            t = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            if win.start_s is not None and t < win.start_s - 1e-6:
                index += 1
                continue
            first = index if first is None else first
            if win.after_end(t):
                return
            if (index - first) % win.stride == 0:
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                if rotate is not None:
                    rgb = cv2.rotate(rgb, rotate)
                yield Frame(index, t, rgb)
                k += 1
            index += 1
        else:
            return
        if index == 0:
            raise InputError(info.path, "no frame could be decoded (OpenCV)")
        missing = info.num_frames - index
        if win.end_s is None and missing > max(win.stride + 1, 0.02 * info.num_frames):
            raise InputError(info.path, f"truncated or corrupt video: decoding stopped at frame {index} of "
                                        f"{info.num_frames} (OpenCV)")
    finally:
        cap.release()
