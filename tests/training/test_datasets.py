"""FreiHAND and HO3D readers on tiny fabricated samples in the published layouts; the HO3D
meta reader refuses pickles that would run code."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from handmocap.errors import FormatError, InputError
from handmocap.hand.joints import MANO_TO_KEYPOINTS
from training.datasets import read_freihand, read_ho3d, read_meta_pickle


def _freihand(root, n=3):
    rng = np.random.default_rng(0)
    xyz = rng.normal(0, 0.05, (n, 21, 3)) + [0, 0, 0.6]
    K = [[[500.0, 0, 112], [0, 500.0, 112], [0, 0, 1]]] * n
    (root / "training" / "rgb").mkdir(parents=True)
    (root / "training" / "mask").mkdir(parents=True)
    for i in range(n):
        (root / "training" / "rgb" / f"{i:08d}.jpg").write_bytes(b"\xff\xd8")
    (root / "training" / "mask" / "00000000.jpg").write_bytes(b"\xff\xd8")
    (root / "training_xyz.json").write_text(json.dumps(xyz.tolist()))
    (root / "training_K.json").write_text(json.dumps(K))
    (root / "training_mano.json").write_text(json.dumps(rng.normal(0, 0.1, (n, 61)).tolist()))
    return xyz


def test_freihand_reader(tmp_path):
    xyz = _freihand(tmp_path)
    s = read_freihand(tmp_path)
    assert len(s) == 3 and np.allclose(s[1]["keypoints_cam"], xyz[1])
    assert s[0]["mask"] is not None and s[1]["mask"] is None
    assert s[2]["hand_pose"].shape == (45,) and s[2]["betas"].shape == (10,)
    (tmp_path / "training" / "rgb" / "00000002.jpg").unlink()
    with pytest.raises(InputError, match="00000002.jpg"):
        read_freihand(tmp_path)
    (tmp_path / "training_K.json").write_text("[1, 2")
    with pytest.raises(FormatError, match="training_K.json"):
        read_freihand(tmp_path)


def _ho3d(root):
    seq = root / "train" / "ABF10"
    (seq / "rgb").mkdir(parents=True)
    (seq / "meta").mkdir(parents=True)
    joints = np.arange(63, dtype=np.float64).reshape(21, 3) / 100
    meta = {"handJoints3D": joints, "camMat": np.eye(3) * 600, "handPose": np.zeros(48, np.float32),
            "handBeta": np.ones(10), "handTrans": np.array([0.0, 0.0, -0.5]), "objName": "mug"}
    with (seq / "meta" / "0000.pkl").open("wb") as fh:
        pickle.dump(meta, fh, protocol=2)
    (seq / "rgb" / "0000.jpg").write_bytes(b"\xff\xd8")
    return joints


def test_ho3d_reader_converts_axes_and_order(tmp_path):
    joints = _ho3d(tmp_path)
    s = read_ho3d(tmp_path)
    assert len(s) == 1 and s[0]["sequence"] == "ABF10"
    expect = (joints * [1, -1, -1])[list(MANO_TO_KEYPOINTS)]
    assert np.allclose(s[0]["keypoints_cam"], expect)
    assert np.allclose(s[0]["betas"], 1.0)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_meta_pickle_refuses_code(tmp_path):
    p = tmp_path / "evil.pkl"
    p.write_bytes(pickle.dumps({"handJoints3D": _Evil()}))
    with pytest.raises(FormatError, match="refusing"):
        read_meta_pickle(p)
    with pytest.raises(InputError):
        read_ho3d(tmp_path / "nothing")
