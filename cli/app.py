"""Typer application: global options and command registration. Commands live one per
module and are thin wrappers over the library; user errors become one red line."""
from __future__ import annotations

import sys

import typer

from handmocap.errors import HandmocapError

app = typer.Typer(
    name="handmocap",
    help="Hand motion capture from ordinary video: camera-space MANO-format hands.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _register() -> None:
    from . import calibrate, export, info, pose, track, train  # noqa: F401  (each adds its command)


@app.callback()
def _root(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print debug logging."),
    debug: bool = typer.Option(False, "--debug", help="Print tracebacks of internal errors (also after a command)."),
) -> None:
    """Hand motion capture from ordinary video: camera-space MANO-format hands."""
    import logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def _click_exceptions():
    try:  # typer >= 0.20 vendors click
        from typer._click import exceptions
    except ImportError:  # pragma: no cover (older typer)
        from click import exceptions
    return exceptions


def _fail(message: str, code: int) -> None:
    typer.secho(f"error: {message}", fg="red", err=True)
    sys.exit(code)


def main() -> None:
    """Console-script entry point. Every user error is one red line on stderr:
    bad options exit 2 (before any input is opened), other user errors 1, an interrupted
    batch 130 (SIGINT) or 143 (SIGTERM). Internal errors are one line too; their traceback
    goes to a log file named in the line, or to stderr with --debug."""
    import os

    from handmocap.track.errorlog import DEBUG_ENV, record_internal_error

    # MediaPipe's C++ (glog/absl/TFLite) start-up chatter is not for users; -v keeps it
    if "-v" in sys.argv or "--verbose" in sys.argv:
        os.environ["HANDMOCAP_MEDIAPIPE_LOGS"] = "1"
    else:
        os.environ.setdefault("GLOG_minloglevel", "2")
    # --debug anywhere on the line (workers inherit it through the environment)
    if "--debug" in sys.argv[1:]:
        os.environ[DEBUG_ENV] = "1"
        sys.argv[1:] = [a for a in sys.argv[1:] if a != "--debug"]
    _register()
    exceptions = _click_exceptions()
    from handmocap.errors import OptionError
    from handmocap.track.batch import BatchStopped

    try:
        code = app(standalone_mode=False)
    except BatchStopped as exc:
        typer.secho(exc.line() if exc.signum is not None else f"error: {exc.line()}", fg="red", err=True)
        if exc.signum is not None:
            # everything is cleaned up; the interpreter's own shutdown (MediaPipe, torch
            # threads) can take seconds under load: an interrupted command exits now
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.exit_code)
        sys.exit(exc.exit_code)
    except OptionError as exc:
        _fail(str(exc), 2)
    except HandmocapError as exc:
        _fail(str(exc), 1)
    except exceptions.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except exceptions.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx is not None else "handmocap"
        _fail(f"{exc.format_message()} (see {command} --help)", exc.exit_code)
    except exceptions.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except exceptions.Abort:
        typer.secho("interrupted", fg="red", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="red", err=True)
        sys.exit(130)
    except OSError as exc:  # the environment, not a bug: full disk, permissions, ...
        where = f": {exc.filename}" if exc.filename else ""
        _fail(f"{(exc.strerror or str(exc) or type(exc).__name__)}{where}", 1)
    except Exception as exc:  # a bug: one line, the traceback in a log (or on stderr with --debug)
        _fail(record_internal_error(exc, " ".join(sys.argv)), 1)
    sys.exit(code if isinstance(code, int) else 0)
