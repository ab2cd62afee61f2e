"""The stills' handedness classifier (`handmocap.track.still_side`): its shipped weights
reproduce from the committed feature table (training/still_side.py), its 3D features are
mirror-odd, and a still's hands are decided with it."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from handmocap.errors import AssetError
from handmocap.hand.mirror import mirror_points
from handmocap.track.still_side import (FEATURES, WEIGHTS_PATH, chirality, decide_sides, label_logit, load_weights,
                                        side_logit)

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_weights_reproduce_from_the_recipe(tmp_path):
    from training.still_side import TABLE, main

    out = tmp_path / "still_side.json"
    assert main(["--table", str(ROOT / TABLE), "--out", str(out)]) == 0
    fresh, shipped = json.loads(out.read_text()), json.loads(WEIGHTS_PATH.read_text())
    assert fresh["features"] == shipped["features"] == list(FEATURES)
    np.testing.assert_allclose(fresh["weights"], shipped["weights"], atol=2e-6)
    assert abs(fresh["bias"] - shipped["bias"]) < 2e-6 and fresh["samples"] == shipped["samples"]


def test_classifier_beats_the_label_on_the_training_table():
    from training.still_side import TABLE, cross_validate

    table = dict(np.load(ROOT / TABLE))
    label_ok = (table["label_right"] == table["right"]).mean()
    cv_ok = ((cross_validate(table) >= 0) == table["right"]).mean()
    assert cv_ok > label_ok, (cv_ok, label_ok)


def test_chirality_is_mirror_odd():
    rel = _hand()
    a, b = chirality(rel), chirality(mirror_points(torch.as_tensor(rel)).numpy())
    np.testing.assert_allclose(a, -np.asarray(b), atol=1e-9)


def _hand() -> np.ndarray:
    """(21, 3) metres: a right hand of the open hand model, fingers a little bent."""
    import torch

    from handmocap.hand import HandModel

    hand = HandModel(side="right")
    pose = torch.zeros(1, 45)
    pose[0, 2::3] = 0.3  # flexion about each joint's z axis
    out = hand(global_orient=torch.zeros(1, 3), hand_pose=pose, betas=torch.zeros(1, 10), transl=torch.zeros(1, 3))
    return out.keypoints[0].detach().numpy().astype(np.float64)


def test_label_logit_and_sides():
    assert label_logit("right", 0.9) == pytest.approx(np.log(9)) and label_logit("left", 0.9) == pytest.approx(-np.log(9))
    assert label_logit("right", 0.3) == 0.0 and label_logit("", 0.9) == 0.0
    assert decide_sides([2.0, 0.5]) == ["right", "left"]  # two hands of one image: the weaker gives way
    assert decide_sides([-0.1]) == ["left"] and decide_sides([]) == []
    w = load_weights()
    assert side_logit(np.zeros(len(FEATURES))) == pytest.approx(w["bias"])


def test_bad_weights_file_is_one_line_error(tmp_path):
    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    with pytest.raises(AssetError, match="cannot read"):
        load_weights(bad)
    bad.write_text(json.dumps({"features": ["x"], "weights": [1.0], "bias": 0.0}))
    with pytest.raises(AssetError, match="features"):
        load_weights(bad)
