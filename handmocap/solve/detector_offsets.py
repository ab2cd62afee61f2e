"""Detector keypoint definitions: how a detector's 21 landmarks relate to the hand model's joints.

A detector does not place its landmarks on the model's joints (MediaPipe's wrist sits ~20% of
the palm toward the fingers, its MCPs slightly toward the wrist; see design.md). Fitting the
model's joints straight onto them biases scale, depth and the wrist, so the fitter compares
like with like: it maps the model's 21 keypoints to the detector's definition first,

    landmarks = D @ keypoints        D: (21, 21), rows sum to 1 (affine combinations)

and only the fit's *output* keypoints are the model's own joints. The definitions are data
(`handmocap/hand/data/detector_keypoints.json`), one named matrix per detector.
"""
from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
import torch

from ..errors import AssetError, InputError, check_shape
from ..hand.joints import KEYPOINT_NAMES

DEFAULT_DEFINITION = "mediapipe"


@lru_cache(maxsize=None)
def _definitions() -> dict:
    path = resources.files("handmocap.hand") / "data" / "detector_keypoints.json"
    try:
        data = json.loads(path.read_text())
        return data["definitions"]
    except (OSError, KeyError, json.JSONDecodeError) as exc:
        raise AssetError(str(path), f"unreadable detector keypoint definitions ({exc})") from None


def definition_names() -> list[str]:
    """Names of the known detector keypoint definitions."""
    return sorted(_definitions())


@lru_cache(maxsize=None)
def _matrix(name: str) -> np.ndarray:
    defs = _definitions()
    if name not in defs:
        raise InputError(None, f"unknown detector keypoint definition {name!r} (known: {', '.join(sorted(defs))})")
    index = {n: i for i, n in enumerate(KEYPOINT_NAMES)}
    D = np.eye(len(KEYPOINT_NAMES))
    for landmark, combo in defs[name].get("landmarks", {}).items():
        row = np.zeros(len(KEYPOINT_NAMES))
        for keypoint, weight in combo.items():
            row[index[keypoint]] = float(weight)
        if abs(row.sum() - 1.0) > 1e-6:
            raise AssetError("detector_keypoints.json", f"definition {name!r}: weights of {landmark!r} sum to {row.sum()}, not 1")
        D[index[landmark]] = row
    D.setflags(write=False)
    return D


def detector_matrix(name: str = DEFAULT_DEFINITION) -> np.ndarray:
    """(21, 21) float64 matrix D with landmarks = D @ model keypoints (MediaPipe order)."""
    return _matrix(name).copy()


def detector_keypoints(keypoints: torch.Tensor, name: str = DEFAULT_DEFINITION) -> torch.Tensor:
    """Model keypoints -> the detector's landmark definition.

    Args:
        keypoints: (..., 21, 3) metres (any frame), or (..., 21, 2) pixels; the model's own
            keypoints in MediaPipe order (`HandModel(...).keypoints`).
        name: definition name (`definition_names()`), "mediapipe" by default.

    Returns:
        (..., 21, C) the same points as the detector would place them, same frame and unit.
    """
    check_shape("keypoints", keypoints, (..., len(KEYPOINT_NAMES), None))
    D = torch.tensor(_matrix(name), dtype=keypoints.dtype, device=keypoints.device)
    return D @ keypoints


__all__ = ["DEFAULT_DEFINITION", "definition_names", "detector_keypoints", "detector_matrix"]
