"""Helpers to run the real `handmocap` command as a process and watch it (imported by tests)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

EXE = Path(sys.executable).with_name("handmocap")
DATA = Path(__file__).resolve().parents[1] / "data" / "videos"
CLIP = DATA / "one_hand.mp4"  # 30 frames, 480x360, one rendered hand


def start(args: list, cwd: Path, *, as_group: bool = True, drop_root: bool = False, env=None) -> subprocess.Popen:
    """Start `handmocap ARGS` in its own session (so a group signal hits only it).
    drop_root: run without root's permission override (CAP_DAC_OVERRIDE), so chmod
    really blocks reading and writing, as for an ordinary user."""
    cmd = [str(EXE), *map(str, args)]
    if drop_root and os.geteuid() == 0:
        cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", *cmd]
    return subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=as_group, env=env)


def run(args: list, cwd: Path, timeout: float = 240, **kw) -> tuple[int, str, str, float]:
    """Run to the end: (exit code, stdout, stderr, seconds)."""
    t0 = time.monotonic()
    proc = start(args, cwd, **kw)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out, err, time.monotonic() - t0


def can_drop_root() -> bool:
    """True when chmod can be made to bind the CLI: not root, or root with a working setpriv."""
    if os.geteuid() != 0:
        return True
    if shutil.which("setpriv") is None:
        return False
    return subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search", "true"]).returncode == 0


def wait_for(predicate, timeout: float, proc: subprocess.Popen | None = None, step: float = 0.02) -> bool:
    """Poll `predicate` until true (True), the process ends or the time runs out (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return predicate()
        time.sleep(step)
    return False


def processes_mentioning(text: str) -> list[tuple[int, str]]:
    """(pid, command line) of live processes whose command line contains `text`."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = next((ln for ln in (d / "status").read_text().splitlines() if ln.startswith("State:")), "")
        except OSError:
            continue
        if text in cmd and "zombie" not in state:
            found.append((int(d.name), cmd.strip()))
    return found


def final_outputs(out: Path) -> list[str]:
    """Every visible file and folder below `out` (hidden staging entries excluded)."""
    if not out.exists():
        return []
    return sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                  if not any(part.startswith(".") for part in p.relative_to(out).parts))


def hidden_entries(out: Path) -> list[str]:
    if not out.exists():
        return []
    return sorted(p.relative_to(out).as_posix() for p in out.rglob(".*"))
