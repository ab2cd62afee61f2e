"""Typed errors raised at the package's public boundaries.

Every error a user can cause (a bad file, a wrong shape, a missing dependency) is a
`HandmocapError`; the CLI prints it as one line and exits non-zero, the Blender add-on
reports it. Inner math never checks its input: the boundaries do.
"""
from __future__ import annotations

from pathlib import Path


class HandmocapError(Exception):
    """Base class of every error handmocap raises on purpose."""


class InputError(HandmocapError):
    """An input file (video, image, calibration, motion) cannot be used.

    The message always starts with the file name so that batch logs stay readable.
    """

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)


class AssetError(InputError):
    """A hand-model asset (npz, MANO pickle) is missing, malformed or unsafe."""


class FormatError(InputError):
    """A file handmocap wrote (motion file, calibration) has the wrong layout or version."""


class ShapeError(HandmocapError, ValueError):
    """A tensor argument has the wrong shape: the message states expected and actual."""

    def __init__(self, name: str, expected: str, actual: tuple):
        super().__init__(f"{name}: expected shape {expected}, got {tuple(actual)}")


class DependencyError(HandmocapError, ImportError):
    """An optional dependency needed for one feature is not installed."""

    def __init__(self, package: str, feature: str, extra: str | None = None):
        hint = f"pip install 'handmocap[{extra}]'" if extra else f"pip install {package}"
        super().__init__(f"{feature} needs the '{package}' package: {hint}")


def check_shape(name: str, tensor, expected: tuple) -> None:
    """Raise `ShapeError` unless `tensor.shape` matches `expected`.

    `expected` holds ints for fixed sizes and None for free ones; a leading Ellipsis
    allows any number of batch dimensions: `(..., 21, 2)`.
    """
    shape = tuple(tensor.shape)
    exp = tuple(expected)
    text = "(" + ", ".join("..." if e is Ellipsis else ("*" if e is None else str(e)) for e in exp) + ")"
    if exp and exp[0] is Ellipsis:
        tail = exp[1:]
        ok = len(shape) >= len(tail) and all(
            e is None or e == s for e, s in zip(tail, shape[len(shape) - len(tail):]))
    else:
        ok = len(shape) == len(exp) and all(e is None or e == s for e, s in zip(exp, shape))
    if not ok:
        raise ShapeError(name, text, shape)


class OptionError(HandmocapError):
    """A command-line option (or its file: --calib, --model) is unusable; raised before any
    input is opened. The message starts with the option's name."""

    def __init__(self, option: str, problem: str):
        self.option = option
        self.problem = problem
        super().__init__(f"{option}: {problem}")


class OutputError(HandmocapError):
    """The output folder cannot take the results (a file in its place, read-only, full disk).
    Every later input would fail the same way, so a batch stops on it."""

    def __init__(self, path: str | Path | None, reason: str):
        self.path = None if path is None else Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path is not None else reason)
