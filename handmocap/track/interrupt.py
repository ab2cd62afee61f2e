"""Stopping a batch on Ctrl-C or SIGTERM, for every runner (serial, process pool, Ray).

The rules a runner follows:
- The first SIGINT or SIGTERM raises `Interrupted` in the main thread (once). The runner
  stops its inputs, removes their partial outputs (`outputs.discard_partial`), and the
  command prints `interrupted_line(...)` and exits with `exit_code(signum)` (130 for
  SIGINT, 143 for SIGTERM).
- A second signal, while the runner is cleaning up, ends the process at once (the
  registered child processes are killed first).
- Worker processes ignore SIGINT (a terminal's Ctrl-C reaches the whole process group;
  the parent decides) and turn SIGTERM into `Interrupted` while they work on an input,
  so their own clean-up runs before they exit.
- `critical()` defers the first signal over a few system calls that must not be cut in
  half (moving finished outputs into place).

    with catch_interrupts():
        try:
            run_everything()
        except Interrupted as exc:
            stop_raising()          # a second signal now exits at once
            clean_up()
            print(interrupted_line(done, partial, not_started)); sys.exit(exit_code(exc.signum))
"""
from __future__ import annotations

import contextlib
import os
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(BaseException):
    """The first SIGINT/SIGTERM. A BaseException, so `except Exception` in the stages
    never mistakes it for a failed input."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = int(signum)

    def __reduce__(self):
        return (Interrupted, (self.signum,))

    @property
    def exit_code(self) -> int:
        return exit_code(self.signum)

    def __str__(self) -> str:
        return f"interrupted by {signal.Signals(self.signum).name}"


def exit_code(signum: int) -> int:
    """The shell's convention: 128 + signal number (130 SIGINT, 143 SIGTERM)."""
    return 128 + int(signum)


def interrupted_line(done: int, partial: int, not_started: int, failed: int = 0) -> str:
    """The one line a stopped batch prints."""
    done_text = f"{done} done" + (f" ({failed} failed)" if failed else "")
    return (f"interrupted: {done_text}, {partial} partial removed, {not_started} not started; "
            "run the same command again to resume")


class _State:
    signum: int | None = None   # first signal received
    defer: int = 0              # depth of critical() sections
    pending: int | None = None  # signal that arrived inside a critical section
    children: set = set()       # pids killed by a second signal
    in_task: bool = False       # worker: busy with an input


_state = _State()


def _exit_now() -> None:
    os.write(2, b"interrupted again: stopping now\n")
    for pid in list(_state.children):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    os._exit(exit_code(_state.signum or signal.SIGINT))


def _handler(signum, frame) -> None:
    if _state.signum is not None:  # the second signal
        _exit_now()
    _state.signum = signum
    if _state.defer:
        _state.pending = signum
        return
    raise Interrupted(signum)


def received() -> int | None:
    """The signal received since `catch_interrupts` began, or None."""
    return _state.signum


@contextlib.contextmanager
def catch_interrupts():
    """Within: the first SIGINT/SIGTERM raises `Interrupted`, a second exits at once.
    Does nothing outside the main thread (signals are the main thread's)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    _state.signum, _state.pending, _state.defer = None, None, 0
    _state.children = set()
    for s in SIGNALS:
        signal.signal(s, _handler)
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
        _state.signum = None


def stop_raising() -> None:
    """After the first signal was caught: any further signal exits the process at once
    (also one that arrives before any signal, e.g. from a clean-up after an error)."""
    if _state.signum is None:
        _state.signum = signal.SIGINT


def register_child(pid: int) -> None:
    """A child process to SIGKILL when a second signal exits at once."""
    _state.children.add(pid)


@contextlib.contextmanager
def critical():
    """Defer the first signal until the end of the block (keep it to a few system calls)."""
    _state.defer += 1
    try:
        yield
    finally:
        _state.defer -= 1
        if not _state.defer and _state.pending is not None:
            signum, _state.pending = _state.pending, None
            raise Interrupted(signum)


# ------------------------------------------------------------------------- worker processes
def _worker_term(signum, frame) -> None:
    if not _state.in_task or _state.signum is not None:
        os._exit(exit_code(signum))
    _state.signum = signum
    if _state.defer:
        _state.pending = signum
        return
    raise Interrupted(signum)


def init_worker() -> None:
    """Process-pool initializer: ignore SIGINT (the parent stops us), SIGTERM interrupts
    the input at hand (its clean-up runs) or ends an idle worker at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _worker_term)
    _state.signum, _state.pending, _state.defer, _state.in_task = None, None, 0, False


@contextlib.contextmanager
def worker_task():
    """Marks a worker busy with an input: SIGTERM raises `Interrupted` inside."""
    _state.in_task = True
    try:
        yield
    finally:
        _state.in_task = False
