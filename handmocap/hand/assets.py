"""Hand-model assets in MANO's data layout: the only module that reads model files.

Sources, chosen by `load_hand_asset(source, side)`:
- ``"open"`` (default): the bundled open hand derived from CC0 MakeHuman assets
  (``handmocap/hand/data/open_hand.npz``, see NOTICE there);
- a ``.npz`` file with MANO keys;
- a user's licensed ``MANO_RIGHT.pkl`` / ``MANO_LEFT.pkl`` (or a folder holding them).
  These pickles contain chumpy and scipy objects; they are read by a restricted unpickler
  that never imports chumpy and never runs code named in the file.

The environment variable ``HANDMOCAP_HAND_MODEL`` selects the default source.
"""
from __future__ import annotations

import functools
import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import AssetError
from .joints import FINGER_NAMES, MANO_PARENTS

REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights",
                 "kintree_table", "f", "hands_components", "hands_mean")
ENV_VAR = "HANDMOCAP_HAND_MODEL"
BUNDLED = "open"


@dataclass(frozen=True)
class HandAsset:
    """A MANO-layout hand model as plain numpy arrays (float64), V vertices, S betas.

    Attributes:
        v_template: (V, 3) flat-hand rest vertices, metres.
        shapedirs: (V, 3, S) shape blend shapes.
        posedirs: (9*15, V*3) pose correctives, or None when the asset has none (all zero).
        J_regressor: (16, V) joint regressor.
        weights: (V, 16) skinning weights.
        parents: 16 parent indices (MANO tree).
        faces: (F, 3) int triangles, counter-clockwise seen from outside.
        hands_components: (C, 45) pose PCA basis (identity when the asset has none).
        hands_mean: (45,) mean pose added unless `flat_hand_mean`.
        fingertip_ids: (5,) vertex ids of the fingertips, FINGER_NAMES order.
        side: "right" or "left".
        model_id: short stable id written into motion files ("open_hand-<hash>").
    """

    v_template: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray | None
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: tuple[int, ...]
    faces: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    fingertip_ids: np.ndarray
    side: str = "right"
    model_id: str = "unknown"
    source: str = ""
    extras: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def num_vertices(self) -> int:
        return self.v_template.shape[0]

    @property
    def num_betas(self) -> int:
        return self.shapedirs.shape[-1]

    @property
    def has_pca(self) -> bool:
        """True when the pose components are a real PCA basis, not the identity."""
        c = self.hands_components
        return not (c.shape == (45, 45) and np.allclose(c, np.eye(45)))


# ------------------------------------------------------------------------ restricted pickle
class _Opaque:
    """Stand-in for a chumpy or scipy object: keeps its pickled state, runs nothing."""

    kind = "object"

    def __init__(self, *args, **kwargs):
        self.state = None

    def __setstate__(self, state):
        self.state = state


class _Chumpy(_Opaque):
    kind = "chumpy"


class _Sparse(_Opaque):
    kind = "sparse"


def _reconstructor(cls, base, state):
    """copyreg._reconstructor, limited to our stand-in classes."""
    if not (isinstance(cls, type) and issubclass(cls, _Opaque)):
        raise pickle.UnpicklingError(f"refuses to rebuild {cls!r}")
    return cls()


class _RestrictedUnpickler(pickle.Unpickler):
    """Allows numpy arrays, plain containers and stand-ins for chumpy/scipy objects only."""

    _NUMPY = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    }

    def find_class(self, module, name):
        if (module, name) in self._NUMPY:
            mod = __import__(module, fromlist=[name]) if not module.startswith("numpy._core") \
                else __import__(module.replace("numpy._core", "numpy.core"), fromlist=[name])
            return getattr(mod, name)
        if (module, name) == ("copy_reg", "_reconstructor") or (module, name) == ("copyreg", "_reconstructor"):
            return _reconstructor
        if module in ("__builtin__", "builtins") and name in ("object", "set", "frozenset"):
            return {"object": object, "set": set, "frozenset": frozenset}[name]
        if (module, name) == ("_codecs", "encode"):  # how protocol-2 pickles carry bytes
            import codecs

            return codecs.encode
        if module.split(".")[0] == "chumpy":
            return _Chumpy
        if module.startswith("scipy.sparse") and name in ("csc_matrix", "csr_matrix", "coo_matrix"):
            return _Sparse
        raise pickle.UnpicklingError(f"refuses to load '{module}.{name}' (not model data)")


def _to_array(value, key: str, path: Path) -> np.ndarray:
    if isinstance(value, _Chumpy):
        st = value.state if isinstance(value.state, dict) else {}
        if "x" not in st:
            raise AssetError(path, f"key '{key}' is a chumpy expression, not plain data")
        return np.asarray(st["x"])
    if isinstance(value, _Sparse):
        st = value.state if isinstance(value.state, dict) else {}
        try:
            shape = tuple(st.get("_shape") or st["shape"])
            data, indices, indptr = (np.asarray(st[k]) for k in ("data", "indices", "indptr"))
        except (KeyError, TypeError) as exc:
            raise AssetError(path, f"key '{key}': unreadable sparse matrix ({exc})") from None
        dense = np.zeros(shape)
        csc = st.get("format", "csc") == "csc" or "csc" in type(value).__name__
        major = shape[1] if csc else shape[0]
        for m in range(major):
            rows = indices[indptr[m]:indptr[m + 1]]
            vals = data[indptr[m]:indptr[m + 1]]
            if csc:
                dense[rows, m] = vals
            else:
                dense[m, rows] = vals
        return dense
    return np.asarray(value)


def _read_pickle(path: Path) -> dict:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise AssetError(path, f"cannot read ({exc.strerror or exc})") from None
    try:
        data = _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except pickle.UnpicklingError as exc:
        raise AssetError(path, f"unsafe or malformed pickle: {exc}") from None
    except Exception as exc:  # truncated or garbage bytes raise many kinds
        raise AssetError(path, f"not a readable MANO pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(data, dict):
        raise AssetError(path, f"expected a dict of model arrays, found {type(data).__name__}")
    return data


def _read_npz(path: Path) -> dict:
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise AssetError(path, f"not a readable .npz hand model ({exc})") from None
    except Exception as exc:  # damaged members raise zlib, header and other errors
        raise AssetError(path, f"not a readable .npz hand model ({type(exc).__name__}: {exc})") from None


# ------------------------------------------------------------------------ assembly
def find_fingertip_vertices(v_template: np.ndarray, weights: np.ndarray, J_regressor: np.ndarray,
                            parents: tuple[int, ...]) -> np.ndarray:
    """Fingertip vertex ids found from the geometry (for assets that do not list them).

    For each finger, among vertices whose dominant joint is the finger's distal joint, the
    one farthest along the distal bone direction (parent -> distal joint). Never a
    hard-coded id: works for any MANO-layout mesh. Returns (5,) in FINGER_NAMES order.
    """
    joints = J_regressor @ v_template
    dominant = weights.argmax(1)
    distal = {"thumb": 15, "index": 3, "middle": 6, "ring": 12, "pinky": 9}
    ids = []
    for name in FINGER_NAMES:
        j = distal[name]
        cand = np.flatnonzero(dominant == j)
        if cand.size == 0:
            raise AssetError(None, f"no vertex is skinned mainly to the {name} distal joint")
        d = joints[j] - joints[parents[j]]
        d = d / np.linalg.norm(d)
        ids.append(int(cand[np.argmax((v_template[cand] - joints[j]) @ d)]))
    return np.asarray(ids, dtype=np.int64)


def asset_from_dict(data: dict, path: Path, side: str | None = None) -> HandAsset:
    """Validate a dict of MANO keys and build a `HandAsset`. Errors name the missing key;
    any other malformed content is an `AssetError` too."""
    try:
        return _build_asset(data, path, side)
    except AssetError:
        raise
    except (AttributeError, TypeError, ValueError, IndexError, KeyError, OverflowError, MemoryError) as exc:
        raise AssetError(path, f"malformed model arrays ({type(exc).__name__}: {exc})") from None


def _build_asset(data: dict, path: Path, side: str | None) -> HandAsset:
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise AssetError(path, f"missing MANO key '{missing[0]}'" + (
            f" (and {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else ""))
    arr = {k: _to_array(data[k], k, path) for k in REQUIRED_KEYS}
    for key, a in arr.items():
        if a.dtype.kind not in "biuf":
            raise AssetError(path, f"key '{key}' holds {a.dtype} data, expected real numbers")
    try:
        v = arr["v_template"].astype(np.float64)
        V = v.shape[0]
        checks = {
            "v_template": (v.ndim == 2 and v.shape[1] == 3, "(V, 3)"),
            "shapedirs": (arr["shapedirs"].ndim == 3 and arr["shapedirs"].shape[:2] == (V, 3), f"({V}, 3, S)"),
            "J_regressor": (arr["J_regressor"].shape == (16, V), f"(16, {V})"),
            "weights": (arr["weights"].shape == (V, 16), f"({V}, 16)"),
            "kintree_table": (arr["kintree_table"].shape == (2, 16), "(2, 16)"),
            "f": (arr["f"].ndim == 2 and arr["f"].shape[1] == 3, "(F, 3)"),
            "hands_mean": (arr["hands_mean"].size == 45, "(45,)"),
            "hands_components": (arr["hands_components"].ndim == 2 and arr["hands_components"].shape[1] == 45, "(C, 45)"),
        }
    except (AttributeError, TypeError, ValueError) as exc:
        raise AssetError(path, f"malformed model arrays ({exc})") from None
    for key, (ok, expected) in checks.items():
        if not ok:
            raise AssetError(path, f"key '{key}' has shape {arr[key].shape}, expected {expected}")
    faces = arr["f"].astype(np.int64)
    if faces.min() < 0 or faces.max() >= V:
        raise AssetError(path, "key 'f' indexes vertices that do not exist")
    parents = tuple(int(p) for p in arr["kintree_table"][0].astype(np.int64))
    parents = (-1,) + parents[1:]
    if parents != MANO_PARENTS:
        raise AssetError(path, f"kinematic tree {parents} is not MANO's")
    posedirs = arr["posedirs"].astype(np.float64)
    if posedirs.ndim == 3:  # MANO stores (V, 3, 135); LBS wants (135, V*3)
        posedirs = posedirs.reshape(-1, posedirs.shape[-1]).T
    posedirs = None if not np.any(posedirs) else np.ascontiguousarray(posedirs)
    J_reg = arr["J_regressor"].astype(np.float64)
    W = arr["weights"].astype(np.float64)
    tips = data.get("fingertip_vertex_ids")
    tips = np.asarray(tips, dtype=np.int64) if tips is not None else \
        find_fingertip_vertices(v, W, J_reg, parents)
    if side is None:
        side = str(np.asarray(data.get("side", "left" if "LEFT" in path.name.upper() else "right")))
    digest = hashlib.sha1(v.tobytes() + faces.tobytes()).hexdigest()[:10]
    name = "open_hand" if "open_hand" in path.name else path.stem.lower()
    extras = {k: data[k] for k in data if k not in REQUIRED_KEYS and isinstance(data[k], np.ndarray)}
    return HandAsset(
        v_template=v, shapedirs=arr["shapedirs"].astype(np.float64), posedirs=posedirs,
        J_regressor=J_reg, weights=W, parents=parents, faces=faces,
        hands_components=arr["hands_components"].astype(np.float64),
        hands_mean=arr["hands_mean"].astype(np.float64).reshape(45), fingertip_ids=tips,
        side=side, model_id=f"{name}-{digest}", source=str(path), extras=extras)


def bundled_asset_path() -> Path:
    """Path of the bundled open hand model (right hand)."""
    return Path(str(resources.files("handmocap.hand") / "data" / "open_hand.npz"))


def load_hand_asset(source: str | os.PathLike | None = None, side: str = "right") -> HandAsset:
    """Load a MANO-layout hand model.

    Args:
        source: "open" (bundled), a .npz/.pkl file, or a folder with MANO_RIGHT.pkl /
            MANO_LEFT.pkl. None reads $HANDMOCAP_HAND_MODEL, else "open".
        side: "right" or "left". Assets without a native left model are mirrored.

    Raises:
        AssetError: missing/unreadable/unsafe file, or missing/malformed MANO keys.
    """
    if side not in ("right", "left"):
        raise AssetError(None, f"side must be 'right' or 'left', got {side!r}")
    source = source if source is not None else os.environ.get(ENV_VAR, BUNDLED)
    # the tracker and every exporter build hand models: read each file once per process,
    # keyed by its modification time so an edited file is read again
    key = bundled_asset_path() if str(source) == BUNDLED else Path(source).expanduser()
    try:
        stamp = key.stat().st_mtime_ns
    except OSError:
        stamp = None  # missing: _load_uncached raises the proper error
    return _load_cached(str(source), side, stamp)


@functools.lru_cache(maxsize=16)
def _load_cached(source: str, side: str, stamp) -> HandAsset:
    return _load_uncached(source, side)


def _load_uncached(source: str, side: str) -> HandAsset:
    if str(source) == BUNDLED:
        asset = asset_from_dict(_read_npz(bundled_asset_path()), bundled_asset_path(), "right")
        return asset if side == "right" else mirror_asset(asset)
    path = Path(source).expanduser()
    if path.is_dir():
        wanted = path / f"MANO_{side.upper()}.pkl"
        if wanted.exists():
            return asset_from_dict(_read_pickle(wanted), wanted, side)
        right = path / "MANO_RIGHT.pkl"
        if side == "left" and right.exists():
            return mirror_asset(asset_from_dict(_read_pickle(right), right, "right"))
        raise AssetError(path, f"folder holds no MANO_{side.upper()}.pkl")
    if not path.exists():
        raise AssetError(path, "hand model file not found")
    data = _read_npz(path) if path.suffix == ".npz" else _read_pickle(path)
    asset = asset_from_dict(data, path)
    if asset.side != side:
        asset = mirror_asset(asset)
    return asset


def mirror_asset(asset: HandAsset) -> HandAsset:
    """The other hand: x -> -x on every vertex/direction, triangle winding flipped, and
    the mean pose mirrored (axis-angle (x, y, z) -> (x, -y, -z)), as MANO's left model is
    the mirror of its right one. PCA components are mirrored the same way."""
    m = np.array([-1.0, 1.0, 1.0])
    flip_aa = np.tile(np.array([1.0, -1.0, -1.0]), 15)
    posedirs = None
    if asset.posedirs is not None:
        # correctives are features of R - I; under mirroring M R M, so permute-sign them
        P = asset.posedirs.reshape(15, 3, 3, -1, 3) * m  # output axis mirrored
        sign = np.outer(m, m)[None, :, :, None, None]
        posedirs = (P * sign).reshape(asset.posedirs.shape)
    return replace(
        asset,
        v_template=asset.v_template * m,
        shapedirs=asset.shapedirs * m[None, :, None],
        posedirs=posedirs,
        faces=asset.faces[:, ::-1].copy(),
        hands_components=asset.hands_components * flip_aa,
        hands_mean=asset.hands_mean * flip_aa,
        side="left" if asset.side == "right" else "right",
        model_id=asset.model_id + ("-mirror" if not asset.model_id.endswith("-mirror") else ""),
    )
