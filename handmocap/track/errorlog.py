"""Internal errors (bugs, not user mistakes): one line for the user, the traceback kept.

With `--debug` (environment HANDMOCAP_DEBUG=1, inherited by worker processes) the
traceback goes to stderr; otherwise into a log file whose path the line names.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

DEBUG_ENV = "HANDMOCAP_DEBUG"


def debug_enabled() -> bool:
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def log_file() -> Path:
    """This process's error log (in the temporary folder; one per process and day)."""
    return Path(tempfile.gettempdir()) / f"handmocap-errors-{time.strftime('%Y%m%d')}-{os.getpid()}.log"


def record_internal_error(exc: BaseException, context: str = "") -> str:
    """Keep the traceback of `exc` and return the one line to show:
    "internal error: ValueError: ... (traceback in /tmp/handmocap-errors-....log)"."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    first = (str(exc).splitlines() or [""])[0]
    line = f"internal error: {type(exc).__name__}" + (f": {first}" if first else "")
    if debug_enabled():
        sys.stderr.write(f"--- {context or 'internal error'}\n{text}")
        sys.stderr.flush()
        return line
    path = log_file()
    try:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {context}\n{text}\n")
    except OSError:
        return line + " (run with --debug for the traceback)"
    return f"{line} (traceback in {path}; --debug prints it)"
