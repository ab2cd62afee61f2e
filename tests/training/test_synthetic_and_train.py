"""Synthetic scenes, the detector noise model, losses, and the `handmocap train` command
(resumable run with a CSV log)."""
from __future__ import annotations

import csv

import pytest
import torch
from typer.testing import CliRunner

from handmocap.camera.pinhole import project
from handmocap.hand import HandModel
from training import losses
from training.synthetic import NoiseConfig, detector_observation, make_scenes


@pytest.fixture(scope="module")
def hand():
    return HandModel()


def test_scenes_are_exact_hand_model_output_in_view(hand):
    sc = make_scenes(50, 11, hand)
    out = hand(global_orient=sc["global_orient"], hand_pose=sc["hand_pose"], betas=sc["betas"], transl=sc["transl"])
    assert torch.allclose(out.keypoints, sc["keypoints_cam"], atol=1e-5)
    assert (sc["keypoints_cam"][..., 2] > 0.04).all()
    centre = project(sc["landmarks_cam"].mean(1, keepdim=True), sc["K"])[:, 0]
    W, H = sc["image_size"].unbind(-1)
    assert ((centre[:, 0] > 0) & (centre[:, 0] < W) & (centre[:, 1] > 0) & (centre[:, 1] < H)).float().mean() > 0.9
    fov = 2 * torch.rad2deg(torch.atan(0.5 * sc["image_size"].amax(-1) / sc["K"][:, 0, 0]))
    assert fov.min() >= 35 - 1e-3 and fov.max() <= 100 + 1e-3


def test_scenes_are_deterministic_and_seeds_differ(hand):
    a, b, c = make_scenes(8, 1, hand), make_scenes(8, 1, hand), make_scenes(8, 2, hand)
    assert torch.equal(a["hand_pose"], b["hand_pose"]) and not torch.allclose(a["hand_pose"], c["hand_pose"])


def test_detector_noise_model(hand):
    sc = make_scenes(400, 12, hand)
    obs = detector_observation(sc, torch.Generator().manual_seed(0))
    clean_err = (obs["keypoints_px"] - obs["keypoints_px_clean"]).norm(dim=-1)
    size = (obs["keypoints_px_clean"].amax(1) - obs["keypoints_px_clean"].amin(1)).norm(dim=-1)
    rel_err = clean_err / size[:, None]
    c = obs["corrupted"]
    assert 0.1 < c.any(-1).float().mean() < 0.6  # occlusion_prob 0.35
    assert rel_err[c].mean() > 3 * rel_err[~c].mean()  # corrupted keypoints are far off
    assert obs["scores"][c].mean() < obs["scores"][~c].mean()
    # depth is the weak axis of the metric 3D: compressed on average
    gt = sc["landmarks_cam"] - sc["landmarks_cam"].mean(1, keepdim=True)
    rel = obs["keypoints_rel"] - obs["keypoints_rel"].mean(1, keepdim=True)
    assert rel[..., 2].std() < gt[..., 2].std() * 0.95
    none = detector_observation(sc, torch.Generator().manual_seed(0),
                                NoiseConfig(jitter=(0, 0), occlusion_prob=0, drop_prob=0))
    assert torch.allclose(none["keypoints_px"], none["keypoints_px_clean"])


def test_losses_zero_at_ground_truth_and_mask_loss():
    gt = torch.randn(4, 21, 3)
    assert float(losses.l3d(gt, gt)) == 0 and float(losses.translation_rmse(gt[:, 0], gt[:, 0])) < 1e-4
    mask = torch.zeros(1, 20, 20)
    mask[:, 5:15, 5:15] = 1
    inside = torch.full((1, 10, 2), 10.0)
    outside = torch.full((1, 10, 2), 1.0)
    assert float(losses.hand_mask_loss(inside, mask)) < 1e-6
    assert float(losses.hand_mask_loss(outside, mask)) > 0.99
    eye = torch.eye(3).expand(2, 15, 3, 3)
    assert float(losses.parameter_regulariser(torch.zeros(2, 10), eye)) == 0


def test_train_command_resumes_and_logs(tmp_path):
    from cli.app import _register, app

    _register()
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("kind: keypoints\nmodel: {width: 32, blocks: 1}\ndata: {scenes: 256}\nval: {scenes: 32}\n"
                   "optim: {batch_size: 16, steps: 6, warmup: 1}\nlog_every: 2\nckpt_every: 2\n")
    out = tmp_path / "run"
    runner = CliRunner()
    r1 = runner.invoke(app, ["train", "keypoints", "--config", str(cfg), "--out-dir", str(out), "--max-steps", "4",
                             "--no-progress"])
    assert r1.exit_code == 0, r1.output
    assert '"step": 4' in r1.output
    r2 = runner.invoke(app, ["train", "keypoints", "--config", str(cfg), "--out-dir", str(out), "--no-progress",
                             "--export", str(tmp_path / "w.pt")])
    assert r2.exit_code == 0, r2.output
    assert '"step": 6' in r2.output  # continued from the checkpoint, not restarted
    rows = list(csv.DictReader((out / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == [2, 4, 6]
    assert "val_cs_mje_mm" in rows[0] and float(rows[-1]["val_cs_mje_mm"]) > 0
    from handmocap.nn.checkpoint import load_keypoint_model

    assert load_keypoint_model(tmp_path / "w.pt").config.width == 32


def test_train_command_bad_input(tmp_path):
    from cli.app import _register, app

    _register()
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: image\n")
    r = CliRunner().invoke(app, ["train", "keypoints", "--config", str(bad)])
    assert r.exit_code != 0
    r = CliRunner().invoke(app, ["train", "nonsense"])
    assert r.exit_code != 0
