"""Named hand poses (placeholder until the pose library lands)."""
from __future__ import annotations

import numpy as np

NAMED_POSES = {"flat": np.zeros(45)}


def named_pose_names() -> list[str]:
    return sorted(NAMED_POSES)


def named_pose(name: str) -> np.ndarray:
    return NAMED_POSES[name].copy()
