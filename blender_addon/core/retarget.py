"""Retargeting math (bpy-free): hand-relative rotation transfer with rest-pose and roll
correction, and bone maps stored as JSON (`rigmaps/*.json`).

For a source bone j mapped to target bone k (all 3x3 rotations in world axes):
  dS_j(t) = Ws_j(t) Rs_j^T             source world delta from its rest
  E_j(t)  = Hs^T dS_0^T dS_j Hs        that delta relative to the wrist, in hand coordinates
  Q_k     = rotation taking the target bone's rest direction onto the source bone's rest
            direction, in hand coordinates (rest-pose correction; identity if disabled)
  W_k(t)  = dT_hand(t) Ht E_j Q_k Ht^T Rt_k      the target bone's world rotation
Hs, Ht are the source and target hands' rest frames (Y wrist->middle MCP, Z out of the palm)
and Rt_k the target bone's rest rotation, so any roll or rest orientation of the target
bone is kept: only its change is driven. dT_hand is the target hand's own world delta
(its animation) or, when the wrist is transferred, the source hand's orientation.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .hand_model import MANO_JOINT_NAMES, MANO_PARENTS
from .rotations import frame_from_yz, rotation_between

RIGMAP_DIR = Path(__file__).parent / "rigmaps"
PRESETS = ("rigify_metarig", "rigify", "mixamo", "ue5_mannequin", "mpfb")


class BoneMapError(ValueError):
    """A bone map that cannot be used; str() is 'source: reason'."""

    def __init__(self, source, reason: str):
        super().__init__(f"{source}: {reason}")


@dataclass(frozen=True)
class BoneMap:
    """One side of a bone map. bones: MANO joint -> target bone; hand_result: the bone that
    shows the hand (a deform bone; None = the wrist bone itself); wrist_controls: other bones
    that may be what moves the hand (an IK hand control), tried when the wrist bone does not."""

    name: str
    bones: dict
    hand_result: str | None = None
    wrist_controls: tuple = field(default_factory=tuple)


def _map_path(preset_or_path: str) -> Path:
    return RIGMAP_DIR / f"{preset_or_path}.json" if preset_or_path in PRESETS else Path(preset_or_path)


def read_bone_map_spec(preset_or_path: str) -> dict:
    """The raw JSON of a preset or bone-map file (checked to hold a 'bones' mapping)."""
    path = _map_path(preset_or_path)
    try:
        spec = json.loads(Path(path).read_text())
    except OSError as exc:
        raise BoneMapError(path, f"cannot read bone map ({exc.strerror or exc})") from None
    except json.JSONDecodeError as exc:
        raise BoneMapError(path, f"not valid JSON ({exc})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("bones"), dict):
        raise BoneMapError(path, "expected an object with a 'bones' mapping")
    return spec


def load_bone_spec(preset_or_path: str, side: str) -> BoneMap:
    """The BoneMap of one side. A preset name (PRESETS) or a path to a JSON file of the form:
    {"name": ..., "sides": {"right": {"Side": "Right", "s": "R"}, "left": {...}},
     "bones": {"wrist": "mixamorig:{Side}Hand", "index1": ..., ...},
     "hand_result": "DEF-hand.{s}", "wrist_controls": ["hand_ik.{s}"]}   (last two optional)
    Bone names may use the tokens of `sides` in str.format style; joints left out (or
    mapped to "") are not driven.
    """
    path = _map_path(preset_or_path)
    spec = read_bone_map_spec(preset_or_path)
    tokens = spec.get("sides", {}).get(side, {})
    unknown = [k for k in spec["bones"] if k not in MANO_JOINT_NAMES]
    if unknown:
        raise BoneMapError(path, f"unknown joint '{unknown[0]}' (joints: {', '.join(MANO_JOINT_NAMES)})")

    def fmt(name):
        try:
            return str(name).format(**tokens)
        except (KeyError, IndexError) as exc:
            raise BoneMapError(path, f"bone '{name}' uses unknown token {exc} for side '{side}'") from None

    bones = {joint: fmt(name) for joint, name in spec["bones"].items() if name}
    for needed in ("wrist", "index1", "middle1", "pinky1"):
        if needed not in bones:
            raise BoneMapError(path, f"the map must name the '{needed}' bone (it defines the hand frame)")
    result = spec.get("hand_result")
    controls = spec.get("wrist_controls", [])
    if not isinstance(controls, list):
        raise BoneMapError(path, "'wrist_controls' must be a list of bone names")
    return BoneMap(str(spec.get("name", path.stem)), bones, fmt(result) if result else None,
                   tuple(fmt(c) for c in controls if c))


def load_bone_map(preset_or_path: str, side: str) -> dict[str, str]:
    """MANO joint name -> target bone name for one side (see load_bone_spec)."""
    return load_bone_spec(preset_or_path, side).bones


@dataclass(frozen=True)
class PresetMatch:
    """How well a preset's bone names fit a rig: matched of total mapped bones (both
    sides), the sides fully present, and the mapped bones the rig lacks."""

    preset: str
    matched: int
    total: int
    sides: tuple
    missing: tuple


def match_presets(bone_names) -> list[PresetMatch]:
    """Every preset scored against a rig's bone names, best first (most matched bones,
    then fewest missing)."""
    names = set(bone_names)
    out = []
    for preset in PRESETS:
        wanted = {side: list(load_bone_map(preset, side).values()) for side in ("right", "left")}
        missing = [b for side in wanted for b in wanted[side] if b not in names]
        total = sum(len(v) for v in wanted.values())
        sides = tuple(side for side, bones in wanted.items() if all(b in names for b in bones))
        out.append(PresetMatch(preset, total - len(missing), total, sides, tuple(missing)))
    return sorted(out, key=lambda m: (-m.matched, len(m.missing), PRESETS.index(m.preset)))


def describe_match(m: PresetMatch, shown: int = 6) -> str:
    """One line for the UI: 'rigify: 32 of 32 mapped bones (right and left hands)' or
    '...; missing: a, b, c (+N more)'."""
    sides = " and ".join(m.sides) + (" hands" if len(m.sides) > 1 else " hand") if m.sides else "no complete hand"
    text = f"{m.preset}: {m.matched} of {m.total} mapped bones ({sides})"
    if m.missing:
        more = f" (+{len(m.missing) - shown} more)" if len(m.missing) > shown else ""
        text += f"; missing: {', '.join(m.missing[:shown])}{more}"
    return text


def detect_preset(bone_names, side: str | None = None) -> PresetMatch:
    """The best-matching preset for a rig (complete for `side` when given). Raises
    BoneMapError naming the closest preset and its missing bones when none fits."""
    ranked = match_presets(bone_names)
    fitting = [m for m in ranked if (side in m.sides if side else m.sides)]
    if fitting:
        return fitting[0]
    raise BoneMapError("bone map", f"no preset fits this rig{f' ({side} hand)' if side else ''}; closest: "
                                   f"{describe_match(ranked[0])}; use a custom bone map")


def dependency_levels(bones, parent_of) -> list[list[str]]:
    """Bones grouped so that every bone comes after all its ancestors among `bones`.

    Args:
        bones: names of the driven bones; parent_of: name -> parent name (None at a root),
            for every bone of the rig (helper bones in between included).
    Returns:
        [[level-0 names], [level-1 names], ...]: a bone's level is the number of driven
        bones above it in the rig's hierarchy.
    """
    driven = set(bones)
    depth = {}
    for b in bones:
        d, p = 0, parent_of.get(b)
        while p is not None:
            d += p in driven
            p = parent_of.get(p)
        depth[b] = d
    return [sorted(b for b in bones if depth[b] == level) for level in range(max(depth.values(), default=-1) + 1)]


def hand_frame(wrist, index_mcp, middle_mcp, pinky_mcp, side: str) -> np.ndarray:
    """Hand frame (3, 3), columns X, Y, Z: Y wrist->middle MCP, Z out of the palm."""
    n = np.cross(np.asarray(index_mcp) - wrist, np.asarray(pinky_mcp) - wrist)
    n = n if side == "right" else -n
    return frame_from_yz(np.asarray(middle_mcp, float) - wrist, n)


def retarget_deltas(src_delta: np.ndarray, src_hand: np.ndarray, src_rest_y: np.ndarray,
                    tgt_hand: np.ndarray, tgt_rest_y: dict, tgt_hand_delta: np.ndarray,
                    rest_correction: bool = True) -> dict:
    """Target bones' world deltas from rest.

    Args:
        src_delta: (T, 16, 3, 3) source bones' world deltas dS_j (MANO joint order).
        src_hand, tgt_hand: (3, 3) rest hand frames (world axes).
        src_rest_y: (16, 3) source bones' rest directions (world).
        tgt_rest_y: {joint index: (3,) target bone rest direction (world)} for mapped finger bones.
        tgt_hand_delta: (T, 3, 3) target hand's world delta dT_hand.
        rest_correction: align each target bone's rest direction with the source's.
    Returns:
        {joint index: (T, 3, 3) world delta D_k}, so the target bone's world rotation is D_k Rt_k.
    """
    rel = np.swapaxes(src_delta[:, :1], -1, -2) @ src_delta  # dS_0^T dS_j
    E = src_hand.T[None, None] @ rel @ src_hand[None, None]
    out = {}
    for j, y_t in tgt_rest_y.items():
        Q = np.eye(3)
        if rest_correction:
            Q = rotation_between(tgt_hand.T @ y_t, src_hand.T @ src_rest_y[j])
        out[j] = tgt_hand_delta @ (tgt_hand @ E[:, j] @ Q @ tgt_hand.T)
    return out


def wrist_follow_delta(src_delta0: np.ndarray, src_hand: np.ndarray, tgt_hand: np.ndarray) -> np.ndarray:
    """(T, 3, 3) target hand delta that orients the target hand frame like the source hand
    frame in world axes (the 'transfer wrist' option): dT = dS_0 Hs Ht^T."""
    return src_delta0 @ (src_hand @ tgt_hand.T)[None]


def world_to_basis(world_rot: np.ndarray, parent_world_rot: np.ndarray | None, rest: np.ndarray,
                   parent_rest: np.ndarray | None) -> np.ndarray:
    """Pose-bone rotation (T, 3, 3) that gives a bone the armature-space rotation world_rot.

    Blender: P_k = P_p (B_p^T B_k) L_k  ->  L_k = B_k^T B_p P_p^T P_k (rotation parts).
    world_rot, parent_world_rot: (T, 3, 3) armature-space posed rotations; rest, parent_rest:
    (3, 3) bone.matrix_local rotations (parent None for a root bone).
    """
    if parent_world_rot is None:
        return rest.T[None] @ world_rot
    return (rest.T @ parent_rest)[None] @ np.swapaxes(parent_world_rot, -1, -2) @ world_rot


def chain_order(mapped: dict) -> list[int]:
    """MANO joint indices of `mapped` (index -> anything) sorted parents first."""
    assert all(p < j for j, p in enumerate(MANO_PARENTS))  # MANO lists parents first
    return sorted(mapped)
