"""Image model (ResNet + HandDGP heads): forward shapes, a training step learns on a fixed
rendered batch, one epoch of the tiny config runs on CPU and round-trips its checkpoint."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from handmocap.hand import HandModel
from handmocap.nn.checkpoint import load_checkpoint
from handmocap.nn.image_model import ImageModel, ImageModelConfig, soft_argmax
from handmocap.nn.resnet import resnet50
from training.render_data import render_dataset
from training.train import image_losses, load_config, train

TINY = Path(__file__).resolve().parents[2] / "training" / "configs" / "image_tiny.yaml"


@pytest.fixture(scope="module")
def data():
    return render_dataset(8, 3, HandModel(), crop=64)


def test_rendered_data_is_consistent(data):
    assert data["images"].shape == (8, 3, 64, 64) and 0.02 < float(data["masks"].mean()) < 0.9
    # keypoints project inside the crop and mostly onto the hand mask
    kp = data["keypoints_px"].round().long().clamp(0, 63)
    on = data["masks"][torch.arange(8)[:, None], kp[..., 1], kp[..., 0]]
    assert float(on.mean()) > 0.7


def test_resnet50_shape_and_soft_argmax():
    net = resnet50()
    assert net.out_channels == 2048 and sum(p.numel() for p in net.parameters()) > 20e6
    hm = torch.full((1, 2, 8, 8), -50.0)
    hm[0, 0, 2, 5] = 50.0
    hm[0, 1, 7, 0] = 50.0
    assert torch.allclose(soft_argmax(hm), torch.tensor([[[5.0, 2.0], [0.0, 7.0]]]), atol=1e-4)


def test_image_training_step_reduces_loss(data):
    torch.manual_seed(0)
    hand = HandModel()
    model = ImageModel(hand, ImageModelConfig(layers=(1, 1, 1, 1), width=8, crop=64))
    cfg = load_config(TINY, "image")
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.eval()  # batch-norm statistics fixed: the same function before and after
    first = float(image_losses(model, hand, data, cfg["loss"])["total"].detach())
    for _ in range(3):
        loss = image_losses(model, hand, data, cfg["loss"])["total"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = float(image_losses(model, hand, data, cfg["loss"])["total"].detach())
    assert after < first


def test_one_epoch_tiny_config_on_cpu(tmp_path):
    summary = train("image", TINY, {"out_dir": str(tmp_path / "run"), "device": "cpu"}, progress=False)
    assert summary["step"] == 2  # 16 samples, batch 8, one epoch
    blob = load_checkpoint(summary["checkpoint"])
    assert blob["kind"] == "image" and blob["step"] == 2
    assert (tmp_path / "run" / "log.csv").read_text().count("\n") == 3
