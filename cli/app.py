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
) -> None:
    """Hand motion capture from ordinary video: camera-space MANO-format hands."""
    import logging

    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")


def main() -> None:
    """Console-script entry point: user errors (HandmocapError) become one red line."""
    import os

    # MediaPipe's C++ (glog/absl/TFLite) start-up chatter is not for users; -v keeps it
    if "-v" in sys.argv or "--verbose" in sys.argv:
        os.environ["HANDMOCAP_MEDIAPIPE_LOGS"] = "1"
    else:
        os.environ.setdefault("GLOG_minloglevel", "2")
    _register()
    try:
        app()
    except HandmocapError as exc:
        typer.secho(f"error: {exc}", fg="red", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.secho("interrupted", fg="red", err=True)
        sys.exit(130)
