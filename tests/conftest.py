"""Shared fixtures: devices/dtypes and a synthetic motion built with the real hand model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmocap.hand import HandModel
from handmocap.motion import CameraInfo, Motion, Track

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


@pytest.fixture(params=[torch.float32, torch.float64], ids=["f32", "f64"])
def dtype(request):
    return request.param


def synthetic_motion(num_frames: int = 24, sides=("right", "left"), fps: float = 24.0,
                     size=(640, 480), seed: int = 0) -> Motion:
    """A motion whose tracks are real hand-model output: the hands open and close and drift.

    Every array is consistent: keypoints_cam = HandModel(...).keypoints, keypoints_px is
    their projection with K. Used to test exporters and readers without running a video.
    """
    g = torch.Generator().manual_seed(seed)
    W, H = size
    f = 0.5 * W / math.tan(math.radians(60) / 2)
    K = np.array([[f, 0, (W - 1) / 2], [0, f, (H - 1) / 2], [0, 0, 1.0]])
    tracks = []
    for k, side in enumerate(sides):
        hand = HandModel(side=side, dtype=torch.float64)
        t = torch.linspace(0, 1, num_frames, dtype=torch.float64)[:, None]
        curl = 0.5 * (1 - torch.cos(2 * math.pi * t))  # open -> closed -> open
        hand_pose = torch.zeros(num_frames, 45, dtype=torch.float64)
        # flex every finger joint about the model's z axis (fingers curl to the palm)
        flex_axis = torch.tensor([0.0, 0.0, 1.0 if side == "right" else -1.0], dtype=torch.float64)
        for j in range(12):
            hand_pose[:, 3 * j:3 * j + 3] = curl * 1.2 * flex_axis
        # palm towards the camera, fingers up
        base = torch.tensor([[0.0, 0.0, math.pi / 2]], dtype=torch.float64)
        global_orient = base + 0.2 * torch.sin(2 * math.pi * t) * torch.tensor([[1.0, 0, 0]], dtype=torch.float64)
        betas = 0.5 * torch.randn(1, 10, generator=g, dtype=torch.float64)
        x0 = 0.12 if side == "right" else -0.12
        transl = torch.cat([x0 + 0.05 * torch.sin(2 * math.pi * t), 0.02 * t, 0.5 + 0.1 * t], 1)
        out = hand(global_orient=global_orient, hand_pose=hand_pose,
                   betas=betas.expand(num_frames, -1), transl=transl)
        kp = out.keypoints.numpy()
        px = kp @ K.T
        px = px[..., :2] / px[..., 2:]
        frames = np.arange(num_frames)
        tracks.append(Track(
            track_id=k, side=side, frame_index=frames, timestamp_s=frames / fps,
            global_orient=global_orient.numpy(), hand_pose=hand_pose.numpy(), betas=betas[0].numpy(),
            transl=transl.numpy(), keypoints_px=px, keypoints_cam=kp,
            keypoints_rel=kp - kp[:, 9:10], confidence=np.ones((num_frames, 21)),
            score=np.ones(num_frames), detected=np.ones(num_frames, bool),
            reprojection_px=np.zeros(num_frames)))
    camera = CameraInfo(model="perspective", K=tuple(map(tuple, K)), source="given", image_size=(W, H))
    return Motion(source="synthetic", fps=fps, num_frames=num_frames, image_size=(W, H), camera=camera,
                  hand_model_id=HandModel().model_id, tracks=tracks, estimator="synthetic")


@pytest.fixture
def make_motion():
    """The `synthetic_motion` factory, for tests that need other sizes or sides."""
    return synthetic_motion


@pytest.fixture
def motion():
    return synthetic_motion()


@pytest.fixture
def motion_file(tmp_path, motion):
    from handmocap.motion import save_motion

    return save_motion(motion, tmp_path / "synthetic")
