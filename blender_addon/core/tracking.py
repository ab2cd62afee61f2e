"""Run the installed `handmocap track` command from Blender (bpy-free).

The add-on never imports the tracker (torch, MediaPipe): it starts the command line tool
as a child process with `--progress-json`, reads its JSON lines on a thread (so Blender's
UI never blocks on the pipe), and hands back the motion file it wrote.
"""
from __future__ import annotations

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

INSTALL_HINT = ("handmocap is not installed: install it (`pip install handmocap`, or `make venv` in a "
                "source checkout) or set its path in Preferences > Add-ons > Hand Motion")


class TrackerNotFound(OSError):
    """No handmocap command on PATH nor at the path set in the preferences."""

    def __init__(self, given: str | None = None):
        where = f" (not an executable: {given})" if given else ""
        super().__init__(INSTALL_HINT + where)


class TrackingError(RuntimeError):
    """The command failed; str() is its last error line."""


@dataclass(frozen=True)
class TrackOptions:
    """What the operator's panel sets. Intrinsics: one of fov (degrees), fx/fy/cx/cy
    (pixels, fy 0 = fx) or calib (a calibration file); none = the tracker's default."""

    hands: str = "both"
    fov: float | None = None
    fx: float | None = None
    fy: float | None = None
    cx: float | None = None
    cy: float | None = None
    calib: str | None = None
    estimator: str = "model"
    smooth: bool = True
    hand_length_cm: float | None = None
    max_frames: int | None = None
    device: str = "cpu"
    extra_args: tuple = field(default_factory=tuple)


def find_tracker(preferred: str | None = None) -> str:
    """The handmocap executable: the preference's path if given, else `handmocap` on PATH.
    Raises TrackerNotFound with an install hint."""
    if preferred:
        p = Path(preferred).expanduser()
        if p.is_file() and os.access(p, os.X_OK):
            return str(p)
        raise TrackerNotFound(preferred)
    found = shutil.which("handmocap")
    if not found:
        raise TrackerNotFound()
    return found


def track_command(exe: str, video, out_dir, options: TrackOptions) -> list[str]:
    """The argument list of `handmocap track` for one video (motion file only, no exports)."""
    cmd = [exe, "track", str(video), "--out", str(out_dir), "--export", "npz", "--overwrite",
           "--progress-json", "--hands", options.hands, "--estimator", options.estimator,
           "--device", options.device, "--smooth" if options.smooth else "--no-smooth"]
    if options.calib:
        cmd += ["--calib", str(options.calib)]
    elif options.fx:
        cmd += ["--fx", repr(options.fx), "--fy", repr(options.fy or options.fx),
                "--cx", repr(options.cx or 0.0), "--cy", repr(options.cy or 0.0)]
    elif options.fov:
        cmd += ["--fov", repr(options.fov)]
    if options.hand_length_cm:
        cmd += ["--hand-length", repr(options.hand_length_cm)]
    if options.max_frames:
        cmd += ["--max-frames", str(int(options.max_frames))]
    return cmd + list(options.extra_args)


def parse_event(line: str) -> dict | None:
    """A `--progress-json` line as a dict ('event': 'progress' | 'result'), else None."""
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) and "event" in event else None


class TrackJob:
    """One running `handmocap track`. poll() from a timer; cancel() stops it.

    Attributes: done, total (frames; total 0 until known), motion (Path once finished),
    error (one line once failed), state ('running', 'finished', 'failed', 'cancelled').
    """

    def __init__(self, cmd: list[str], max_frames: int | None = None):
        self.cmd = cmd
        self.max_frames = max_frames
        self.done = self.total = 0
        self.motion: Path | None = None
        self.error: str | None = None
        self.state = "running"
        self._tail: list[str] = []
        self._lines: queue.Queue = queue.Queue()
        env = dict(os.environ, PYTHONUNBUFFERED="1", NO_COLOR="1")
        # its own process group, so cancelling also stops the tracker's worker processes
        group = {"start_new_session": True} if os.name == "posix" else \
            {"creationflags": getattr(subprocess, "CREATE_NEW_PROCESS_GROUP", 0)}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     bufsize=1, env=env, **group)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    @property
    def fraction(self) -> float:
        return min(1.0, self.done / self.total) if self.total else 0.0

    def poll(self) -> str:
        """Take in the output so far; returns the state."""
        while True:
            try:
                line = self._lines.get_nowait()
            except queue.Empty:
                break
            if line is None:
                self._finish()
                break
            event = parse_event(line)
            if event is None:
                if line.strip():
                    self._tail = (self._tail + [line.strip()])[-20:]
            elif event["event"] == "progress":
                total = int(event.get("total") or 0)
                self.total = min(total, self.max_frames) if self.max_frames and total else total
                self.done = int(event.get("done", 0))
            elif event["event"] == "result":
                if event.get("ok") and event.get("motion"):
                    self.motion = Path(event["motion"])
                elif event.get("error"):
                    self.error = str(event["error"])
        return self.state

    def _finish(self) -> None:
        code = self.proc.wait()
        if self.state == "cancelled":
            return
        if code == 0 and self.motion is not None and self.motion.is_file():
            self.state = "finished"
            return
        self.state = "failed"
        if self.error is None:
            errors = [t for t in self._tail if "error" in t.lower()] or self._tail or [f"exit code {code}"]
            self.error = f"handmocap track failed: {errors[-1]}"

    def wait(self, timeout: float | None = None, on_update=None) -> str:
        """Block until the command ends (scripts, tests); on_update(job) after each poll."""
        import time

        t_end = None if timeout is None else time.monotonic() + timeout
        while self.poll() == "running":
            if on_update:
                on_update(self)
            if t_end is not None and time.monotonic() > t_end:
                self.cancel()
                raise TrackingError(f"handmocap track took more than {timeout:.0f} s: stopped")
            time.sleep(0.05)
        return self.state

    def cancel(self, grace_s: float = 5.0) -> None:
        """Stop the command and its children (SIGTERM, then SIGKILL after grace_s)."""
        if self.proc.poll() is None:
            self.state = "cancelled"
            posix = os.name == "posix"
            try:
                os.killpg(self.proc.pid, signal.SIGTERM) if posix else self.proc.terminate()
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL) if posix else self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
            if posix:  # children (the video decoder) that outlived the tracker
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        elif self.state == "running":
            self.poll()
