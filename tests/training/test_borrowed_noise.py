"""Detector errors borrowed from real pairs (`training.borrowed_noise`): carried in the hands'
own frames, so a donor's errors put back on its own hand give its detector output again."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel
from training.borrowed_noise import borrow_into, borrowed_observation, error_bank, hand_frames, view_directions
from training.synthetic import detector_observation, make_scenes


@pytest.fixture(scope="module")
def donors():
    """Synthetic scenes seen through the hand-made noise, as `load_detector_pairs` returns pairs."""
    sc = make_scenes(24, 11, HandModel())
    obs = detector_observation(sc, torch.Generator().manual_seed(1))
    return sc, {"landmarks_cam": sc["landmarks_cam"], "keypoints_rel": obs["keypoints_rel"],
                "keypoints_px": obs["keypoints_px"], "K": sc["K"], "scores": obs["scores"]}


def test_a_donors_errors_on_its_own_hand_give_its_detection_back(donors):
    sc, pairs = donors
    bank = error_bank(pairs, centred=False)
    for i in (0, 7, 19):
        one = {k: v[i:i + 1] for k, v in bank.items()}
        obs = borrowed_observation({"landmarks_cam": sc["landmarks_cam"][i:i + 1], "K": sc["K"][i:i + 1]}, one,
                                   torch.Generator().manual_seed(0), scale_std=0.0)
        torch.testing.assert_close(obs["keypoints_px"], pairs["keypoints_px"][i:i + 1], atol=1e-3, rtol=0)
        got = obs["keypoints_rel"][0] - obs["keypoints_rel"][0].mean(0)
        want = pairs["keypoints_rel"][i] - pairs["keypoints_rel"][i].mean(0)
        scale = (got * want).sum() / (want * want).sum()  # the detector's wrong size is not borrowed
        torch.testing.assert_close(got, scale * want, atol=1e-5, rtol=0)


def test_frames_turn_with_the_hand_and_views_do_not():
    lm = make_scenes(4, 3, HandModel())["landmarks_cam"]
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 3]]))  # a turn about the camera axis
    frames, palm = hand_frames(lm)
    frames_r, palm_r = hand_frames(lm @ R.transpose(1, 2))
    torch.testing.assert_close(frames_r, frames @ R.transpose(1, 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(palm_r, palm)
    torch.testing.assert_close(frames @ frames.transpose(1, 2), torch.eye(3).expand(4, 3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(view_directions(lm @ R.transpose(1, 2)), view_directions(lm), atol=1e-5, rtol=0)


def test_centred_bank_and_the_borrowed_share(donors):
    sc, pairs = donors
    bank = error_bank(pairs)
    assert float(bank["errors_3d"].mean(0).abs().max()) < 1e-6 and float(bank["errors_2d"].mean(0).abs().max()) < 1e-6
    g = torch.Generator().manual_seed(2)
    obs = detector_observation(sc, g)
    mixed = borrow_into(obs, sc, bank, 0.25, torch.Generator().manual_seed(3))
    for key in obs:  # the first 18 hands keep their hand-made noise, the last 6 are borrowed
        assert torch.equal(mixed[key][:18], obs[key][:18])
    assert not torch.equal(mixed["keypoints_px"][18:], obs["keypoints_px"][18:])
    assert np.isfinite(mixed["keypoints_rel"].numpy()).all()


def test_training_with_borrowed_errors(tmp_path):
    from training.train import train

    sc = make_scenes(20, 5, HandModel())
    obs = detector_observation(sc, torch.Generator().manual_seed(0))
    path = tmp_path / "pairs.npz"
    np.savez(path, keypoints_px=obs["keypoints_px"].numpy(), keypoints_rel=obs["keypoints_rel"].numpy(),
             scores=obs["scores"].numpy(), K=sc["K"].numpy(), keypoints_cam=sc["keypoints_cam"].numpy(), side="right")
    cfg = {"model": {"width": 32, "blocks": 1}, "log_every": 1, "ckpt_every": 1, "out_dir": str(tmp_path / "run"),
           "data": {"scenes": 64, "pairs": {"path": str(path), "fraction": 0.25}, "borrowed": {"fraction": 0.5, "k": 4}},
           "val": {"scenes": 16}, "optim": {"batch_size": 16, "steps": 2, "warmup": 1}}
    out = train("keypoints", None, cfg, progress=False)
    assert out["step"] == 2 and np.isfinite(out["val"]["cs_mje_mm"])
