"""Asset loading: bundled, npz, MANO pickles (chumpy-free, restricted), bad files."""
import io
import pickle
import subprocess
import sys
import types

import numpy as np
import pytest
import scipy.sparse
import torch

from handmocap import AssetError, HandModel, load_hand_asset
from handmocap.hand.assets import REQUIRED_KEYS, find_fingertip_vertices


@pytest.fixture(scope="module")
def bundled():
    return load_hand_asset("open")


def _bundled_dict():
    return dict(np.load(load_hand_asset().source))


class _FakeChumpy:
    """Mimics how chumpy.Ch pickles: a class in module chumpy.ch whose state holds 'x'."""

    def __init__(self, x):
        self.x = x

    def __getstate__(self):
        return {"x": self.x, "_dirty_vars": set(), "_itr": None}


def _mano_style_pickle(path, drop=None):
    """Write a pickle laid out like a licensed MANO_RIGHT.pkl: chumpy arrays, scipy sparse."""
    d = _bundled_dict()
    fake = types.ModuleType("chumpy.ch")
    _FakeChumpy.__module__, _FakeChumpy.__qualname__ = "chumpy.ch", "Ch"
    fake.Ch = _FakeChumpy
    sys.modules["chumpy"], sys.modules["chumpy.ch"] = types.ModuleType("chumpy"), fake
    try:
        data = {
            "v_template": _FakeChumpy(d["v_template"]), "shapedirs": _FakeChumpy(d["shapedirs"]),
            "posedirs": _FakeChumpy(d["posedirs"]), "weights": _FakeChumpy(d["weights"]),
            "J_regressor": scipy.sparse.csc_matrix(d["J_regressor"]),
            "kintree_table": d["kintree_table"], "f": d["f"].astype(np.uint32),
            "hands_components": d["hands_components"], "hands_mean": d["hands_mean"],
            "hands_coeffs": d["hands_coeffs"], "J": d["J"], "bs_style": "lbs", "bs_type": "lrotmin",
        }
        if drop:
            del data[drop]
        with open(path, "wb") as fh:
            pickle.dump(data, fh, protocol=2)
    finally:
        del sys.modules["chumpy"], sys.modules["chumpy.ch"]
        _FakeChumpy.__module__, _FakeChumpy.__qualname__ = __name__, "_FakeChumpy"


def test_bundled_asset_layout(bundled):
    assert bundled.side == "right" and bundled.num_betas == 10
    assert bundled.weights.shape == (bundled.num_vertices, 16)
    np.testing.assert_allclose(bundled.weights.sum(1), 1.0, atol=1e-6)
    assert bundled.model_id.startswith("open_hand-")


def test_mano_pickle_loads_without_chumpy(tmp_path, bundled):
    _mano_style_pickle(tmp_path / "MANO_RIGHT.pkl")
    # a fresh interpreter proves chumpy is never imported (nor needed)
    code = (
        "import sys; from handmocap.hand.assets import load_hand_asset;"
        f"a = load_hand_asset({str(tmp_path)!r});"
        "assert 'chumpy' not in sys.modules; print(a.num_vertices, a.side)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(bundled.num_vertices), "right"]
    asset = load_hand_asset(tmp_path / "MANO_RIGHT.pkl")
    np.testing.assert_allclose(asset.J_regressor, bundled.J_regressor)
    np.testing.assert_allclose(asset.v_template, bundled.v_template)
    # no fingertip list in a real MANO file: found geometrically, equal to the bundled ones
    np.testing.assert_array_equal(asset.fingertip_ids, bundled.fingertip_ids)


def test_left_from_folder_with_only_right(tmp_path):
    _mano_style_pickle(tmp_path / "MANO_RIGHT.pkl")
    left = load_hand_asset(tmp_path, side="left")
    assert left.side == "left"
    assert np.allclose(left.v_template[:, 0], -load_hand_asset(tmp_path).v_template[:, 0])


def test_env_var_selects_model(tmp_path, monkeypatch):
    _mano_style_pickle(tmp_path / "MANO_RIGHT.pkl")
    monkeypatch.setenv("HANDMOCAP_HAND_MODEL", str(tmp_path))
    assert HandModel().asset.source.endswith("MANO_RIGHT.pkl")


def test_missing_key_is_named(tmp_path):
    _mano_style_pickle(tmp_path / "MANO_RIGHT.pkl", drop="weights")
    with pytest.raises(AssetError, match="missing MANO key 'weights'"):
        load_hand_asset(tmp_path / "MANO_RIGHT.pkl")
    d = _bundled_dict()
    del d["J_regressor"]
    np.savez(tmp_path / "no_jreg.npz", **d)
    with pytest.raises(AssetError, match="'J_regressor'"):
        load_hand_asset(tmp_path / "no_jreg.npz")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED_BY_PICKLE",))


def test_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "MANO_RIGHT.pkl"
    p.write_bytes(pickle.dumps({"v_template": _Evil()}))
    with pytest.raises(AssetError, match="refuses to load 'posix.system'|refuses to load 'os.system'"):
        load_hand_asset(p)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


@pytest.mark.parametrize("payload", [b"", b"\x80\x04garbage", pickle.dumps([1, 2, 3]),
                                     pickle.dumps({"v_template": np.zeros((5, 2))})])
def test_malformed_files_get_clear_errors(tmp_path, payload):
    p = tmp_path / "MANO_RIGHT.pkl"
    p.write_bytes(payload)
    with pytest.raises(AssetError) as err:
        load_hand_asset(p)
    assert "MANO_RIGHT.pkl" in str(err.value) and "\n" not in str(err.value)


def test_wrong_array_shape_is_named(tmp_path):
    d = _bundled_dict()
    d["weights"] = d["weights"][:, :15]
    np.savez(tmp_path / "bad.npz", **d)
    with pytest.raises(AssetError, match="'weights' has shape"):
        load_hand_asset(tmp_path / "bad.npz")


def test_missing_file(tmp_path):
    with pytest.raises(AssetError, match="not found"):
        load_hand_asset(tmp_path / "nope.pkl")


def test_fingertips_are_farthest_along_each_finger(bundled):
    ids = find_fingertip_vertices(bundled.v_template, bundled.weights, bundled.J_regressor, bundled.parents)
    np.testing.assert_array_equal(ids, bundled.fingertip_ids)
    assert len(REQUIRED_KEYS) == 9


def test_model_runs_from_loaded_pickle(tmp_path):
    _mano_style_pickle(tmp_path / "MANO_RIGHT.pkl")
    a = HandModel(str(tmp_path / "MANO_RIGHT.pkl"), dtype=torch.float64)
    b = HandModel(dtype=torch.float64)
    hp = torch.randn(2, 45, dtype=torch.float64) * 0.3
    torch.testing.assert_close(a(hand_pose=hp).vertices, b(hand_pose=hp).vertices)
