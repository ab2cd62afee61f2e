"""The hand model's rest shape in numpy: shape blend shapes and joint regression only
(the add-on skins with Blender's armature modifier, so no pose math here).

Arrays come from an .npz in MANO's layout: the bundled open hand (`data/hand_rig.npz`,
copied from handmocap/hand/data/open_hand.npz when the add-on zip is built) or a user's
MANO-format .npz set in the add-on preferences. Letters: V vertices, S betas, 16 joints.
"""
from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MANO_JOINT_NAMES = ("wrist", "index1", "index2", "index3", "middle1", "middle2", "middle3",
                    "pinky1", "pinky2", "pinky3", "ring1", "ring2", "ring3",
                    "thumb1", "thumb2", "thumb3")
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
FINGER_NAMES = ("thumb", "index", "middle", "ring", "pinky")
DISTAL_JOINT = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}
# Data copied from handmocap/hand/joints.py (the add-on cannot import the package):
# keypoints21 = cat([joints16, tips5 (FINGER_NAMES order)])[MANO_TO_KEYPOINTS]
MANO_TO_KEYPOINTS = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
REQUIRED_KEYS = ("v_template", "shapedirs", "J_regressor", "weights", "f")
BUNDLED = Path(__file__).parent / "data" / "hand_rig.npz"
# running from a source checkout (tests, the package's FBX exporter): the package's asset
SOURCE_TREE = Path(__file__).resolve().parents[2] / "handmocap" / "hand" / "data" / "open_hand.npz"


class HandModelError(ValueError):
    """A hand-model file that cannot be used; str() is 'path: reason'."""

    def __init__(self, path, reason: str):
        super().__init__(f"{path}: {reason}")


@dataclass(frozen=True)
class RigAsset:
    """Arrays of one hand side (float64): v_template (V, 3) m; shapedirs (V, 3, S);
    J_regressor (16, V); weights (V, 16); faces (F, 3) int; fingertip_ids (5,)."""

    v_template: np.ndarray
    shapedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    faces: np.ndarray
    fingertip_ids: np.ndarray
    side: str
    model_id: str


def default_asset_path() -> Path:
    """The bundled arrays inside the add-on, else the package's asset in a source checkout."""
    return BUNDLED if BUNDLED.is_file() else SOURCE_TREE


def load_rig_asset(path=None, side: str = "right", arrays: dict | None = None) -> RigAsset:
    """Load hand-model arrays (right-handed file) and mirror them for `side='left'`.

    Args:
        path: MANO-layout .npz (None: bundled open hand). Ignored when `arrays` is given.
        arrays: the same keys already in memory (used by the package's FBX exporter).
    """
    path = Path(path) if path else default_asset_path()
    if arrays is None:
        if not path.is_file():
            raise HandModelError(path, "hand model file not found")
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in z.files}
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise HandModelError(path, f"not a readable .npz hand model ({exc})") from None
    missing = [k for k in REQUIRED_KEYS if k not in arrays]
    if missing:
        raise HandModelError(path, f"missing key '{missing[0]}'")
    v = np.asarray(arrays["v_template"], dtype=np.float64)
    faces = np.asarray(arrays["f"], dtype=np.int64)
    V = len(v)
    shapedirs = np.asarray(arrays["shapedirs"], dtype=np.float64)
    J_reg = np.asarray(arrays["J_regressor"], dtype=np.float64)
    W = np.asarray(arrays["weights"], dtype=np.float64)
    if v.shape != (V, 3) or shapedirs.shape[:2] != (V, 3) or J_reg.shape != (16, V) or W.shape != (V, 16):
        raise HandModelError(path, "arrays do not have MANO's layout (v_template (V,3), shapedirs (V,3,S), "
                                   "J_regressor (16,V), weights (V,16))")
    # same id as handmocap's HandAsset.model_id, to warn when a motion was made with another model
    digest = hashlib.sha1(v.tobytes() + faces.tobytes()).hexdigest()[:10]
    name = "open_hand" if "open_hand" in path.name or "hand_rig" in path.name else path.stem.lower()
    tips = arrays.get("fingertip_vertex_ids")
    tips = np.asarray(tips, dtype=np.int64) if tips is not None else find_fingertips(v, W, J_reg)
    asset = RigAsset(v, shapedirs, J_reg, W, faces, tips, "right", f"{name}-{digest}")
    return asset if side == "right" else mirror(asset)


def mirror(asset: RigAsset) -> RigAsset:
    """The left hand: x -> -x and flipped winding (as handmocap.hand.assets.mirror_asset)."""
    m = np.array([-1.0, 1.0, 1.0])
    return RigAsset(asset.v_template * m, asset.shapedirs * m[None, :, None], asset.J_regressor,
                    asset.weights, asset.faces[:, ::-1].copy(), asset.fingertip_ids, "left",
                    asset.model_id + "-mirror")


def find_fingertips(v: np.ndarray, weights: np.ndarray, J_reg: np.ndarray) -> np.ndarray:
    """(5,) vertex ids of the fingertips (FINGER_NAMES order): the vertex skinned mainly to
    each distal joint that lies farthest along the distal bone."""
    joints = J_reg @ v
    dominant = weights.argmax(1)
    ids = []
    for name in FINGER_NAMES:
        j = DISTAL_JOINT[name]
        cand = np.flatnonzero(dominant == j)
        d = joints[j] - joints[MANO_PARENTS[j]]
        ids.append(int(cand[np.argmax((v[cand] - joints[j]) @ d)]))
    return np.asarray(ids, dtype=np.int64)


def shaped_rest(asset: RigAsset, betas: np.ndarray):
    """Rest shape for `betas` (S',): returns verts (V, 3), joints (16, 3), tips (5, 3), metres,
    model frame (flat hand, root at its rest position)."""
    betas = np.asarray(betas, dtype=np.float64).reshape(-1)
    S = min(len(betas), asset.shapedirs.shape[-1])
    verts = asset.v_template + asset.shapedirs[..., :S] @ betas[:S]
    joints = asset.J_regressor @ verts
    return verts, joints, verts[asset.fingertip_ids]
