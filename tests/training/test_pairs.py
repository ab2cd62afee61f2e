"""Detector pairs (real detector output with ground truth) mixed into keypoint-model training
(`training.pairs`), the clean-input share of the noise model, and fine-tuning from weights."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handmocap.errors import FormatError, InputError
from handmocap.hand import HandModel
from training.pairs import load_detector_pairs, mix_pairs
from training.synthetic import NoiseConfig, detector_observation, make_scenes


@pytest.fixture(scope="module")
def pairs_file(tmp_path_factory):
    """20 right hands and the same 20 mirrored (left hands), as a pairs npz."""
    from handmocap.hand.mirror import mirror_points

    hand = HandModel()
    sc = make_scenes(20, 5, hand)
    obs = detector_observation(sc, torch.Generator().manual_seed(0))
    px_l = obs["keypoints_px"].clone()
    px_l[..., 0] = 2 * sc["K"][:, 0, 2][:, None] - px_l[..., 0]
    path = tmp_path_factory.mktemp("pairs") / "pairs.npz"
    cat = lambda a, b: np.concatenate([a.numpy(), b.numpy()])  # noqa: E731
    np.savez(path, keypoints_px=cat(obs["keypoints_px"], px_l),
             keypoints_rel=cat(obs["keypoints_rel"], mirror_points(obs["keypoints_rel"])),
             scores=cat(obs["scores"], obs["scores"]), K=cat(sc["K"], sc["K"]),
             keypoints_cam=cat(sc["keypoints_cam"], mirror_points(sc["keypoints_cam"])),
             side=np.array(["right"] * 20 + ["left"] * 20))
    return path, sc, obs


def test_left_pairs_are_mirrored_into_right_hands(pairs_file):
    path, sc, obs = pairs_file
    p = load_detector_pairs(path)
    for key, want in (("keypoints_px", obs["keypoints_px"]), ("keypoints_rel", obs["keypoints_rel"]),
                      ("keypoints_cam", sc["keypoints_cam"])):
        torch.testing.assert_close(p[key][20:], want.float(), atol=1e-4, rtol=0)
        torch.testing.assert_close(p[key][:20], want.float(), atol=1e-4, rtol=0)
    # the ground truth in the detector's definition is what the scenes call landmarks
    torch.testing.assert_close(p["landmarks_cam"][:20], sc["landmarks_cam"], atol=1e-5, rtol=0)


def test_mix_replaces_a_share_and_marks_it(pairs_file):
    path, sc, obs = pairs_file
    p = load_detector_pairs(path)
    batch, o = mix_pairs(sc, obs, p, 0.25, torch.Generator().manual_seed(1))
    assert int((~batch["has_params"]).sum()) == 5 and not bool(batch["has_params"][:5].any())
    torch.testing.assert_close(o["keypoints_px"][5:], obs["keypoints_px"][5:])
    batch, _ = mix_pairs(sc, obs, p, 0.0, torch.Generator())
    assert bool(batch["has_params"].all())


def test_bad_pairs_files(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_detector_pairs(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    np.savez(bad, keypoints_px=np.zeros((3, 21, 2)))
    with pytest.raises(FormatError, match="keypoints_cam"):
        load_detector_pairs(bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(FormatError, match="junk.npz"):
        load_detector_pairs(tmp_path / "junk.npz")


def test_clean_share_is_exact_and_leaves_the_rest_alone():
    sc = make_scenes(200, 3, HandModel())
    noisy = detector_observation(sc, torch.Generator().manual_seed(2))
    mixed = detector_observation(sc, torch.Generator().manual_seed(2), NoiseConfig(clean_fraction=0.3))
    exact = (mixed["keypoints_px"] - mixed["keypoints_px_clean"]).abs().amax((1, 2)) == 0
    assert 0.15 < float(exact.float().mean()) < 0.45
    assert bool((mixed["scores"][exact] == 1).all())
    torch.testing.assert_close(mixed["keypoints_px"][~exact], noisy["keypoints_px"][~exact])


def test_training_with_pairs_and_a_warm_start(pairs_file, tmp_path):
    from training.train import export_weights, train

    path, _, _ = pairs_file
    tiny = {"model": {"width": 32, "blocks": 1}, "data": {"scenes": 128, "pairs": {"path": str(path), "fraction": 0.5}},
            "val": {"scenes": 16}, "optim": {"batch_size": 16, "steps": 2, "warmup": 1}, "noise": {"clean_fraction": 0.2},
            "log_every": 1, "ckpt_every": 1, "out_dir": str(tmp_path / "a")}
    a = train("keypoints", None, tiny, progress=False)
    assert a["step"] == 2 and np.isfinite(a["val"]["cs_mje_mm"])
    w = export_weights(a["checkpoint"], tmp_path / "a.pt")
    b = train("keypoints", None, {**tiny, "out_dir": str(tmp_path / "b"), "init_from": str(w)}, progress=False,
              max_steps=0)
    assert b["step"] == 0  # not trained: the warm start alone gives the first run's accuracy
    assert b["val"]["cs_mje_mm"] == pytest.approx(a["val"]["cs_mje_mm"], rel=0.02)
