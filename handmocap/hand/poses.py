"""Named hand poses and a sampler of anatomically plausible poses.

Poses are defined by anatomical angles (degrees; see `limits.py`) so they stay inside the
joint limits and mean the same thing on any asset. `named_pose(name)` returns a MANO
`hand_pose` (45,) axis-angle for the bundled right hand with flat-hand-mean semantics
(zero = flat hand); `sample_hand_pose` returns (n, 45) torch tensors for training. `NAMED_POSES` (name ->
(45,) array) is built on first access.
"""
from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from ..errors import InputError
from ..geometry.rotations import matrix_to_axis_angle, quaternion_to_matrix
from .joints import MANO_JOINT_NAMES
from .limits import FINGER_JOINTS, JointLimits, angles_to_hand_pose, clamp_angles, default_joint_limits

FINGERS = ("index", "middle", "ring", "pinky")
_J = {name: i - 1 for i, name in enumerate(MANO_JOINT_NAMES) if i > 0}  # name -> row 0..14


def _angles(fingers: dict | None = None, spread: dict | None = None, thumb=None) -> np.ndarray:
    """(15, 3) degrees from a compact description.

    fingers: {finger: (MCP, PIP, DIP) flexion}; spread: {finger: MCP abduction};
    thumb: ((flex, abd, twist) CMC, (flex, abd, twist) MCP, (flex, abd, twist) IP).
    """
    a = np.zeros((15, 3))
    for f, flex in (fingers or {}).items():
        for j, v in zip(FINGER_JOINTS[f], flex):
            a[j - 1, 0] = v
    for f, v in (spread or {}).items():
        a[FINGER_JOINTS[f][0] - 1, 1] = v
    if thumb is not None:
        for j, v in zip(FINGER_JOINTS["thumb"], thumb):
            a[j - 1] = v
    return a


def _all(flex) -> dict:
    return {f: flex for f in FINGERS}


_FIST = (85, 100, 60)
_THUMB_TUCKED = ((40, 10, -10), (40, 0, 0), (50, 0, 0))  # over the middle phalanges
_THUMB_OUT = ((-15, 25, 0), (0, 0, 0), (0, 0, 0))  # extended, away from the index
_SPREAD = {"index": 15, "middle": 0, "ring": 10, "pinky": 20}

NAMED_ANGLES: dict[str, np.ndarray] = {
    "flat": _angles(),
    "relaxed": _angles(_all((20, 25, 10)), {"index": 4, "middle": 2, "ring": 3, "pinky": 6},
                       ((25, 30, -5), (5, 0, 0), (10, 0, 0))),
    "fist": _angles(_all(_FIST), None, _THUMB_TUCKED),
    "point": _angles({"index": (0, 0, 0), "middle": _FIST, "ring": _FIST, "pinky": _FIST}, None,
                     _THUMB_TUCKED),
    "pinch": _angles({"index": (50, 45, 20), "middle": (25, 25, 10), "ring": (20, 25, 10),
                      "pinky": (15, 25, 10)}, None, ((50, 25, -15), (10, 0, 0), (10, 0, 0))),
    "ok": _angles({"index": (50, 55, 25), "middle": (10, 10, 5), "ring": (10, 10, 5),
                   "pinky": (10, 10, 5)}, {"index": 0, "middle": 5, "ring": 8, "pinky": 15},
                  ((45, 25, -15), (10, 0, 0), (15, 0, 0))),
    "thumbs_up": _angles(_all(_FIST), None, ((-10, 10, 0), (0, 0, 0), (-10, 0, 0))),
    "peace": _angles({"index": (0, 0, 0), "middle": (0, 0, 0), "ring": _FIST, "pinky": _FIST},
                     {"index": 12, "middle": 8}, _THUMB_TUCKED),
    "rock": _angles({"index": (0, 0, 0), "middle": _FIST, "ring": _FIST, "pinky": (0, 0, 0)},
                    {"index": 10, "pinky": 15}, _THUMB_TUCKED),
    "three": _angles({"index": (0, 0, 0), "middle": (0, 0, 0), "ring": (0, 0, 0), "pinky": _FIST},
                     {"index": 10, "middle": 3, "ring": 8}, ((45, 15, -10), (40, 0, 0), (50, 0, 0))),
    "claw": _angles(_all((15, 80, 60)), _SPREAD, ((10, 40, -10), (25, 0, 0), (40, 0, 0))),
    "grab": _angles(_all((45, 55, 30)), {"index": 8, "ring": 6, "pinky": 12},
                    ((35, 40, -15), (15, 0, 0), (20, 0, 0))),
    "spread": _angles(_all((0, 0, 0)), _SPREAD, _THUMB_OUT),
}
"""Anatomical angles (15, 3) in degrees of each named pose."""


@lru_cache(maxsize=None)
def _named_pose_cached(name: str) -> np.ndarray:
    ang = torch.as_tensor(np.radians(NAMED_ANGLES[name]), dtype=torch.float64)[None]
    return angles_to_hand_pose(ang, default_joint_limits())[0].numpy()


def __getattr__(name: str):
    # NAMED_POSES is built on first use: it needs the bundled asset's joint frames
    if name == "NAMED_POSES":
        return {k: named_pose(k) for k in named_pose_names()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def named_pose_names() -> list[str]:
    """Names of the built-in poses, sorted."""
    return sorted(NAMED_ANGLES)


def named_pose(name: str) -> np.ndarray:
    """(45,) axis-angle hand pose (flat-hand-mean semantics) of a named pose.

    Raises:
        InputError: unknown name (the message lists the known ones).
    """
    if name not in NAMED_ANGLES:
        raise InputError(None, f"unknown pose '{name}' (known: {', '.join(named_pose_names())})")
    return _named_pose_cached(name).copy()


# ----------------------------------------------------------------------------- sampling
def _generator(seed: int | torch.Generator | None) -> torch.Generator:
    if isinstance(seed, torch.Generator):
        return seed
    g = torch.Generator()
    g.manual_seed(int(seed) if seed is not None else int(torch.randint(0, 2 ** 31 - 1, ()).item()))
    return g


def _correlated_normal(n: int, k: int, rho: float, g: torch.Generator) -> torch.Tensor:
    """(n, k) standard normals with correlation rho^|i-j| (neighbouring fingers alike)."""
    idx = torch.arange(k, dtype=torch.float64)
    cov = rho ** (idx[:, None] - idx[None]).abs()
    return torch.randn(n, k, generator=g, dtype=torch.float64) @ torch.linalg.cholesky(cov).T


def sample_angles(n: int, seed: int | torch.Generator | None = None, named_mix: float = 0.3,
                  named_noise_deg: float = 8.0, limits: JointLimits | None = None) -> torch.Tensor:
    """Anatomical angles of n plausible hands, (n, 15, 3) radians float64, within limits.

    Fingers: a hand-wide curl in [0, 1] plus per-finger deviations correlated between
    neighbours; MCP and PIP follow the finger's curl with some independence, DIP is
    coupled to PIP (about 2/3 of it). Spread shrinks as fingers curl. The thumb curls with
    the fingers. A fraction `named_mix` are named poses perturbed by `named_noise_deg`.
    """
    g = _generator(seed)
    lim = default_joint_limits() if limits is None else limits
    lo = torch.as_tensor(lim.lower)
    hi = torch.as_tensor(lim.upper)

    def U(*shape):
        return torch.rand(*shape, generator=g, dtype=torch.float64)

    def N(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    # hand-wide curl: many open-ish and many closed-ish hands, some in between
    base = torch.where(U(n) < 0.5, U(n) ** 2, 1 - U(n) ** 2 * 0.9)  # (n,)
    curl = (base[:, None] + 0.3 * _correlated_normal(n, 4, 0.6, g)).clamp(-0.1, 1.0)  # (n, 4)
    a = torch.zeros(n, 15, 3, dtype=torch.float64)
    spread = 0.3 + 0.35 * N(n, 1)  # hand-wide spread in abduction-range units
    for k, f in enumerate(FINGERS):
        mcp, pip, dip = (j - 1 for j in FINGER_JOINTS[f])
        mcp_frac = (curl[:, k] + 0.2 * N(n)).clamp(-0.15, 1.0)
        pip_frac = (curl[:, k] + 0.15 * N(n)).clamp(-0.03, 1.0)
        a[:, mcp, 0] = mcp_frac * hi[mcp, 0]
        a[:, pip, 0] = pip_frac * hi[pip, 0]
        a[:, dip, 0] = (0.67 * pip_frac * hi[pip, 0] + math.radians(5) * N(n))
        s = (spread[:, 0] + 0.15 * N(n)) * (1 - 0.7 * curl[:, k].clamp(0, 1))
        a[:, mcp, 1] = torch.where(s >= 0, s * hi[mcp, 1], -s * lo[mcp, 1])
        for j in (mcp, pip, dip):
            a[:, j, 1] += math.radians(1.5) * N(n)
            a[:, j, 2] = math.radians(3 if j == mcp else 1.5) * N(n)
    # thumb: curls with the hand (CMC across the palm, MCP/IP bend), abducts freely
    t_curl = (0.6 * curl.mean(1) + 0.4 * U(n) + 0.15 * N(n)).clamp(0, 1)
    cmc, tmcp, tip_ = (j - 1 for j in FINGER_JOINTS["thumb"])
    a[:, cmc, 0] = lo[cmc, 0] + (hi[cmc, 0] - lo[cmc, 0]) * (0.2 + 0.6 * t_curl + 0.15 * N(n)).clamp(0, 1)
    a[:, cmc, 1] = lo[cmc, 1] + (hi[cmc, 1] - lo[cmc, 1]) * U(n)
    a[:, cmc, 2] = lo[cmc, 2] * (0.3 * t_curl + 0.2 * U(n))  # pronates as it opposes
    a[:, tmcp, 0] = hi[tmcp, 0] * (t_curl * 0.8 + 0.15 * N(n)).clamp(-0.1, 1)
    a[:, tip_, 0] = hi[tip_, 0] * (t_curl * 0.8 + 0.2 * N(n)).clamp(-0.15, 1)
    a[:, [tmcp, tip_], 1] = math.radians(3) * N(n, 2)
    a[:, [tmcp, tip_], 2] = math.radians(3) * N(n, 2)

    if named_mix > 0:
        names = named_pose_names()
        table = torch.as_tensor(np.radians(np.stack([NAMED_ANGLES[k] for k in names])))
        pick = U(n) < named_mix
        which = torch.randint(0, len(names), (n,), generator=g)
        noisy = table[which] + math.radians(named_noise_deg) * N(n, 15, 3)
        a = torch.where(pick[:, None, None], noisy, a)
    return clamp_angles(a, lim)


def sample_hand_pose(n: int, seed: int | torch.Generator | None = None, named_mix: float = 0.3,
                     named_noise_deg: float = 8.0, limits: JointLimits | None = None,
                     dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """n anatomically plausible hand poses, (n, 45) axis-angle (flat-hand-mean semantics).

    Args:
        n: number of poses.
        seed: int seed or a torch.Generator (reproducible); None draws a fresh seed.
        named_mix: fraction of perturbed named poses mixed in.
        named_noise_deg: std of the angle noise added to named poses, degrees.
        limits: joint limits/frames (default: the bundled right hand).
    """
    if n < 0 or not 0 <= named_mix <= 1:
        raise ValueError(f"need n >= 0 and 0 <= named_mix <= 1, got n={n}, named_mix={named_mix}")
    ang = sample_angles(n, seed, named_mix, named_noise_deg, limits)
    return angles_to_hand_pose(ang, limits).to(dtype)


def sample_global_orient(n: int, seed: int | torch.Generator | None = None,
                         max_angle_deg: float | None = None, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, 3) axis-angle wrist orientations: uniform over all rotations, or (with
    `max_angle_deg`) a uniform axis and an angle uniform in [0, max_angle_deg]."""
    g = _generator(seed)
    if max_angle_deg is None:
        q = torch.randn(n, 4, generator=g, dtype=torch.float64)  # normalised Gaussian = uniform
        q = q / q.norm(dim=1, keepdim=True)
        return matrix_to_axis_angle(quaternion_to_matrix(q)).to(dtype)
    axis = torch.randn(n, 3, generator=g, dtype=torch.float64)
    axis = axis / axis.norm(dim=1, keepdim=True)
    angle = torch.rand(n, 1, generator=g, dtype=torch.float64) * math.radians(max_angle_deg)
    return (axis * angle).to(dtype)


def sample_betas(n: int, num_betas: int = 10, seed: int | torch.Generator | None = None,
                 clip: float = 3.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(n, num_betas) shapes ~ N(0, 1) clipped to [-clip, clip]."""
    g = _generator(seed)
    return torch.randn(n, num_betas, generator=g, dtype=torch.float64).clamp(-clip, clip).to(dtype)
