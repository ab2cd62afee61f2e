"""Readers for public hand datasets in their published layouts (users supply the data).

FreiHAND (Zimmermann et al. 2019), `root/`:
    training_xyz.json   list of (21, 3) metres, camera frame, FreiHAND = handmocap keypoint order
    training_K.json     list of (3, 3)
    training_mano.json  list of [61] = 48 pose (axis-angle, MANO) + 10 shape + 3 translation (optional)
    training/rgb/%08d.jpg, training/mask/%08d.jpg (mask optional)
HO3D (Hampali et al. 2020), `root/train/<sequence>/`:
    rgb/<frame>.jpg|png, meta/<frame>.pkl with handJoints3D (21, 3) in OpenGL axes (y up,
    z backwards; MANO joint order + tips), camMat (3, 3), handPose (48), handBeta (10),
    handTrans (3). Pickles are read with a restricted unpickler that only builds numpy
    arrays (no arbitrary code runs).

Each reader returns a list of samples (dicts of numpy arrays and paths) with keypoints in
handmocap order, OpenCV camera frame, metres.
"""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from handmocap.errors import FormatError, InputError
from handmocap.hand.joints import MANO_TO_KEYPOINTS

_OPENGL_TO_OPENCV = np.array([1.0, -1.0, -1.0])
_SAFE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"), ("copyreg", "_reconstructor"), ("builtins", "object"),
    ("_codecs", "encode"),  # protocol-2 pickles store array bytes as latin-1 text
}


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except numpy's array/dtype reconstruction."""

    def find_class(self, module, name):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} (only numpy arrays are allowed)")


def read_meta_pickle(path: str | Path) -> dict:
    """Read an HO3D meta pickle safely (numpy arrays and plain values only)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = _NumpyOnlyUnpickler(fh, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, AttributeError, ValueError) as exc:
        raise FormatError(path, f"unreadable or unsafe pickle ({exc})") from None
    if not isinstance(data, dict):
        raise FormatError(path, "meta pickle must hold a mapping")
    return data


def _json(path: Path):
    if not path.is_file():
        raise InputError(path, "missing FreiHAND file")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise FormatError(path, f"malformed JSON ({exc})") from None


def read_freihand(root: str | Path, limit: int | None = None) -> list[dict]:
    """FreiHAND training samples: image, mask (or None), K (3, 3), keypoints_cam (21, 3),
    and, when training_mano.json exists, hand_pose (45), global_orient (3), betas (10), transl (3)."""
    root = Path(root)
    xyz = _json(root / "training_xyz.json")
    Ks = _json(root / "training_K.json")
    mano = _json(root / "training_mano.json") if (root / "training_mano.json").is_file() else None
    if len(xyz) != len(Ks) or (mano is not None and len(mano) != len(xyz)):
        raise FormatError(root, f"FreiHAND files disagree in length (xyz {len(xyz)}, K {len(Ks)})")
    out = []
    for i in range(len(xyz) if limit is None else min(limit, len(xyz))):
        kp = np.asarray(xyz[i], dtype=np.float64)
        K = np.asarray(Ks[i], dtype=np.float64)
        if kp.shape != (21, 3) or K.shape != (3, 3):
            raise FormatError(root / "training_xyz.json", f"sample {i}: expected (21, 3) and (3, 3), got {kp.shape}, {K.shape}")
        image = root / "training" / "rgb" / f"{i:08d}.jpg"
        if not image.is_file():
            raise InputError(image, "missing FreiHAND image")
        mask = root / "training" / "mask" / f"{i:08d}.jpg"
        s = {"image": image, "mask": mask if mask.is_file() else None, "K": K, "keypoints_cam": kp}
        if mano is not None:
            p = np.asarray(mano[i], dtype=np.float64).reshape(-1)
            if p.size != 61:
                raise FormatError(root / "training_mano.json", f"sample {i}: expected 61 values, got {p.size}")
            s.update(global_orient=p[:3], hand_pose=p[3:48], betas=p[48:58], transl=p[58:61])
        out.append(s)
    return out


def read_ho3d(root: str | Path, split: str = "train", limit: int | None = None) -> list[dict]:
    """HO3D samples: image, K, keypoints_cam (21, 3) (OpenCV axes, handmocap order), hand_pose
    (45), global_orient (3), betas (10), transl (3) (the latter in HO3D's OpenGL frame)."""
    base = Path(root) / split
    if not base.is_dir():
        raise InputError(base, "missing HO3D split folder")
    out = []
    for seq in sorted(p for p in base.iterdir() if p.is_dir()):
        for meta_path in sorted((seq / "meta").glob("*.pkl")):
            meta = read_meta_pickle(meta_path)
            joints = meta.get("handJoints3D")
            if joints is None:  # evaluation frames hold only the root joint
                continue
            joints = np.asarray(joints, dtype=np.float64)
            if joints.shape != (21, 3):
                raise FormatError(meta_path, f"handJoints3D: expected (21, 3), got {joints.shape}")
            image = next((seq / "rgb" / f"{meta_path.stem}{ext}" for ext in (".jpg", ".png")
                          if (seq / "rgb" / f"{meta_path.stem}{ext}").is_file()), None)
            if image is None:
                raise InputError(seq / "rgb" / meta_path.stem, "missing HO3D image")
            pose = np.asarray(meta.get("handPose", np.zeros(48)), dtype=np.float64).reshape(-1)
            out.append({"image": image, "K": np.asarray(meta["camMat"], dtype=np.float64),
                        "keypoints_cam": (joints * _OPENGL_TO_OPENCV)[list(MANO_TO_KEYPOINTS)],
                        "global_orient": pose[:3], "hand_pose": pose[3:48],
                        "betas": np.asarray(meta.get("handBeta", np.zeros(10)), dtype=np.float64),
                        "transl": np.asarray(meta.get("handTrans", np.zeros(3)), dtype=np.float64),
                        "sequence": seq.name})
            if limit is not None and len(out) >= limit:
                return out
    return out


def load_image_dataset(source: str, root, hand_model, crop: int, limit: int | None = None) -> dict:
    """Image-model batches from a real dataset (not finished: the readers above work, the
    rectified-crop pipeline for real images is still to be written)."""
    raise InputError(root, f"training the image model on {source!r} is not implemented yet "
                           "(use data.source: render; read_freihand / read_ho3d read the samples)")


__all__ = ["load_image_dataset", "read_freihand", "read_ho3d", "read_meta_pickle"]
