"""Checks of a whole tracking request before the first input is opened.

Every option, the calibration file, the hand-model file, the export list, the output
folder and the tools the request needs are checked up front, so that a mistake costs one
line and no work: each problem is an `OptionError` naming the option. Nothing here writes
anything or opens an input. Any runner (the command line, a cluster runner) calls
`check_request` before starting.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ..errors import HandmocapError, OptionError, OutputError
from .pipeline import TrackOptions

HANDS = ("both", "left", "right")
ESTIMATORS = ("model", "fitting")
HAND_LENGTH_CM = (5.0, 40.0)  # a newborn's hand to well beyond the largest adult's
MAX_JOBS = 256


def check_number(option: str, value, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False, integer: bool = False) -> None:
    """Raise `OptionError` unless `value` is a finite number within the bounds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(option, f"must be a finite number, got {value!r}")
    if integer and int(value) != value:
        raise OptionError(option, f"must be a whole number, got {value!r}")
    lo_bad = low is not None and (value <= low if low_open else value < low)
    hi_bad = high is not None and (value >= high if high_open else value > high)
    if lo_bad or hi_bad:
        lo = "" if low is None else ("(" if low_open else "[") + f"{low:g}"
        hi = "" if high is None else f"{high:g}" + (")" if high_open else "]")
        if low is not None and high is not None:
            rng = f"in {lo}, {hi}"
        elif low is not None:
            rng = f"{'>' if low_open else '>='} {low:g}"
        else:
            rng = f"{'<' if high_open else '<='} {high:g}"
        raise OptionError(option, f"must be {rng}, got {value:g}")


def parse_exports(text: str) -> list[str]:
    """"glb, preview" -> ["glb", "preview"]; unknown names are an `OptionError`."""
    from ..export import EXPORTERS

    names = [e.strip().lower() for e in str(text).split(",") if e.strip()]
    unknown = [n for n in names if n not in EXPORTERS]
    if unknown:
        raise OptionError("--export", f"unknown format {unknown[0]!r} (known: {', '.join(EXPORTERS)})")
    return list(dict.fromkeys(names))


def check_calibration(path) -> None:
    """The calibration file reads as intrinsics."""
    from ..camera.intrinsics import Intrinsics

    path = Path(path)
    if not path.exists():
        raise OptionError("--calib", f"{path}: no such file" + (" (a link to nothing)" if path.is_symlink() else ""))
    if path.is_dir():
        raise OptionError("--calib", f"{path}: is a folder, expected a calibration file (.json, .yaml)")
    try:
        Intrinsics.from_file(path)
    except HandmocapError as exc:
        raise OptionError("--calib", str(exc)) from None


def check_hand_model(source, hands: str = "both") -> None:
    """The hand model (--model, else $HANDMOCAP_HAND_MODEL, else the bundled one) loads for
    every side the request needs."""
    from ..hand.assets import ENV_VAR, load_hand_asset

    option = "--model" if source is not None else ENV_VAR
    if source is None and not os.environ.get(ENV_VAR):
        return  # the bundled model: shipped and tested
    sides = ["right", "left"] if hands == "both" else [hands]
    try:
        for side in sides:
            load_hand_asset(source, side=side)
    except HandmocapError as exc:
        raise OptionError(option, str(exc)) from None


def check_device(device: str) -> None:
    if device == "cpu":
        return
    if not (device == "cuda" or (device.startswith("cuda:") and device[5:].isdigit())):
        raise OptionError("--device", f"must be cpu, cuda or cuda:N, got {device!r}")
    import torch

    if not torch.cuda.is_available():
        raise OptionError("--device", f"{device}: no CUDA device is available (use --device cpu)")
    index = int(device[5:]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise OptionError("--device", f"{device}: only {torch.cuda.device_count()} CUDA device(s)")


def check_tools(exports: list[str], stream: int | None) -> None:
    """The executables the request needs are installed."""
    from ..video.probe import have_ffmpeg, have_ffprobe

    if "preview" in exports and not have_ffmpeg():
        raise OptionError("--export", "the preview needs ffmpeg, which is not installed "
                                      "(apt-get install ffmpeg), or leave it out: --export glb")
    if stream is not None and not (have_ffmpeg() and have_ffprobe()):
        raise OptionError("--stream", "choosing a stream needs ffmpeg and ffprobe (apt-get install ffmpeg)")


def check_output_folder(out_dir: Path) -> None:
    from .outputs import check_output_folder as check

    try:
        check(out_dir)
    except OutputError as exc:
        raise OptionError("--out", str(exc)) from None


def check_request(options: TrackOptions, exports: list[str], out_dir: Path, jobs: int = 1) -> None:
    """Every check above for one tracking request; raises the first `OptionError`."""
    if options.hands not in HANDS:
        raise OptionError("--hands", f"must be both, left or right, got {options.hands!r}")
    if options.estimator not in ESTIMATORS:
        raise OptionError("--estimator", f"must be model or fitting, got {options.estimator!r}")
    check_number("--jobs", jobs, low=1, high=MAX_JOBS, integer=True)
    check_number("--batch-size", options.batch_size, low=1, integer=True)
    check_number("--max-frames", options.max_frames, low=1, integer=True)
    check_number("--stream", options.stream, low=0, integer=True)
    if options.hand_length_m is not None:
        check_number("--hand-length", options.hand_length_m * 100.0, low=HAND_LENGTH_CM[0], high=HAND_LENGTH_CM[1])
    if options.smoothing.enabled:
        check_number("--min-cutoff", options.smoothing.min_cutoff, low=0, low_open=True)
        check_number("--beta", options.smoothing.beta, low=0)
        check_number("--noise-floor", options.smoothing.noise_floor_scale, low=0)
    check_intrinsics_option(options.intrinsics)
    check_device(options.device)
    check_tools(exports, options.stream)
    check_output_folder(out_dir)
    check_hand_model(options.hand_model, options.hands)


def check_intrinsics_option(intrinsics) -> None:
    """What `TrackOptions.intrinsics` holds: a FOV (degrees), a calibration file or an
    `Intrinsics` built from --fx/--fy/--cx/--cy."""
    if intrinsics is None:
        return
    if isinstance(intrinsics, (int, float)) and not isinstance(intrinsics, bool):
        check_number("--fov", float(intrinsics), low=0, high=180, low_open=True, high_open=True)
    elif isinstance(intrinsics, (str, Path)):
        check_calibration(intrinsics)


def intrinsics_from_options(fx=None, fy=None, cx=None, cy=None, fov=None, calib=None):
    """The camera source from the command-line options (at most one kind may be given):
    an `Intrinsics` (--fx ...), a calibration path (--calib), a FOV (--fov) or None."""
    given = [name for name, v in (("--fx", fx), ("--fov", fov), ("--calib", calib)) if v is not None]
    if len(given) > 1:
        raise OptionError(given[1], f"give the intrinsics one way only, got {' and '.join(given)}")
    for name, v in (("--fx", fx), ("--fy", fy), ("--cx", cx), ("--cy", cy)):
        check_number(name, v, low=0, low_open=name in ("--fx", "--fy"))
    if fx is None:
        extra = [name for name, v in (("--fy", fy), ("--cx", cx), ("--cy", cy)) if v is not None]
        if extra:
            raise OptionError(extra[0], "only works together with --fx, --cx and --cy (--fy optional)")
        return Path(calib) if calib is not None else fov
    if cx is None or cy is None:
        raise OptionError("--fx", "needs --cx and --cy (and optionally --fy)")
    from ..camera.intrinsics import Intrinsics

    try:
        return Intrinsics(fx=fx, fy=fy or fx, cx=cx, cy=cy, width=None, height=None)
    except HandmocapError as exc:
        raise OptionError("--fx", str(exc)) from None
