"""Fitting against ground truth from the real hand model: synthetic detections are made by
posing `HandModel`, converting to MediaPipe's landmark definition and projecting with a known
camera, with 2 px 2D noise and 3 mm (x, y) / 10 mm (z) 3D noise."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmocap.camera.pinhole import project
from handmocap.errors import InputError, ShapeError
from handmocap.geometry.metrics import pa_mpjpe
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel
from handmocap.solve.detector_offsets import definition_names, detector_keypoints, detector_matrix
from handmocap.solve.fitting import FitOptions, KeypointLayer, fit_track

SIZE = (640, 480)
F_TRUE = 600.0


def _keyed(x: torch.Tensor, T: int) -> torch.Tensor:
    """(n, ...) key values -> (T, ...) piecewise-linear motion through them."""
    n = x.shape[0]
    u = torch.linspace(0, n - 1, T, dtype=x.dtype)
    i = u.floor().long().clamp(max=n - 2)
    a = (u - i).reshape(-1, *([1] * (x.dim() - 1)))
    return x[i] * (1 - a) + x[i + 1] * a


def synthetic_track(side="right", T=24, seed=0, depth=(0.35, 0.9), noise_px=2.0, noise_xy=0.003,
                    noise_z=0.01, rel_scale=1.0):
    """Ground-truth hand motion and MediaPipe-like detections of it."""
    g = torch.Generator().manual_seed(seed)
    dt = torch.float64
    rand = lambda *s: torch.rand(*s, generator=g, dtype=dt)  # noqa: E731
    randn = lambda *s: torch.randn(*s, generator=g, dtype=dt)  # noqa: E731
    hand = HandModel(side=side, dtype=dt)
    sgn = 1.0 if side == "right" else -1.0
    W, H = SIZE
    K = torch.tensor([[F_TRUE, 0, (W - 1) / 2], [0, F_TRUE, (H - 1) / 2], [0, 0, 1]], dtype=dt)
    n = 4
    curl = _keyed(rand(n, 4) * 1.3, T)  # four fingers flex about the model's z axis
    pose = torch.zeros(T, 15, 3, dtype=dt)
    for f, joints in enumerate(((0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11))):
        for k, j in enumerate(joints):
            pose[:, j, 2] = sgn * curl[:, f] * (0.8 if k == 0 else 1.0)
    pose[:, 12:15] = _keyed(randn(n, 3, 3) * 0.25, T)
    pose = pose.reshape(T, 45) + _keyed(randn(n, 45) * 0.05, T)
    axis = torch.nn.functional.normalize(randn(1, 3), dim=-1)
    global_orient = _keyed(axis * rand(1, 1) * math.pi + randn(n, 3) * 0.3, T)
    z = depth[0] + (depth[1] - depth[0]) * rand(1)
    centre = torch.cat([_keyed(randn(n, 2) * 0.12 * z, T), _keyed(z + randn(n) * 0.03, T)[:, None]], 1)
    betas = randn(1, 10) * 0.7
    out = hand(global_orient=global_orient, hand_pose=pose, betas=betas.expand(T, -1))
    transl = centre - out.keypoints.mean(1)
    kp = out.keypoints + transl[:, None]
    lm = detector_keypoints(kp)
    px = project(lm, K) + noise_px * randn(T, 21, 2)
    rel = (lm - lm.mean(1, keepdim=True)) * rel_scale
    rel = rel + torch.cat([noise_xy * randn(T, 21, 2), noise_z * randn(T, 21, 1)], -1)
    flat = hand(betas=betas).keypoints[0]
    return dict(px=px.numpy(), rel=rel.numpy(), scores=np.ones((T, 21)), K=K.numpy(), kp=kp.numpy(),
                length=float((flat[12] - flat[0]).norm()), side=side, betas=betas[0].numpy())


def _errors(d, fit):
    kp = torch.as_tensor(fit.keypoints_cam, dtype=torch.float64)
    gt = torch.as_tensor(d["kp"])
    cam_mm = 1000 * float((kp - gt).norm(dim=-1).mean())
    pa_mm = 1000 * float(pa_mpjpe(kp, gt).mean())
    depth_rel = float(((kp[..., 2].mean(1) - gt[..., 2].mean(1)).abs() / gt[..., 2].mean(1)).mean())
    return cam_mm, pa_mm, depth_rel, float(np.mean(fit.reprojection_px))


# ------------------------------------------------------------------ keypoint definitions
def test_detector_definition_is_affine_and_moves_wrist_and_mcps():
    assert "mediapipe" in definition_names()
    D = detector_matrix("mediapipe")
    np.testing.assert_allclose(D.sum(1), 1.0, atol=1e-12)
    kp = HandModel()().keypoints
    lm = detector_keypoints(kp)
    palm_model = (kp[0, 9] - kp[0, 0]).norm()
    palm_det = (lm[0, 9] - lm[0, 0]).norm()
    assert abs(float(palm_det / palm_model) - 0.78) < 0.01  # design.md: ~22% shorter
    tips = [4, 8, 12, 16, 20]
    torch.testing.assert_close(lm[0, tips], kp[0, tips])  # fingertips are the model's
    torch.testing.assert_close(detector_keypoints(kp, "model"), kp)
    with pytest.raises(InputError, match="unknown detector keypoint definition"):
        detector_matrix("openpose-v0")


@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoint_layer_matches_hand_model(side):
    hand = HandModel(side=side, dtype=torch.float64)
    g = torch.Generator().manual_seed(3)
    B = 5
    go, pose = torch.randn(B, 3, generator=g, dtype=torch.float64), 0.4 * torch.randn(B, 45, generator=g, dtype=torch.float64)
    betas = torch.randn(B, 10, generator=g, dtype=torch.float64)
    layer = KeypointLayer(hand, dtype=torch.float64)
    torch.testing.assert_close(layer(axis_angle_to_matrix(go), pose, betas),
                               hand(global_orient=go, hand_pose=pose, betas=betas).keypoints)
    flat = hand(betas=betas).keypoints
    torch.testing.assert_close(layer.hand_length(betas), (flat[:, 12] - flat[:, 0]).norm(dim=-1))
    b0 = layer.beta0_for_length(betas[0, 1:], 0.17)
    torch.testing.assert_close(layer.hand_length(torch.cat([b0[None], betas[0, 1:]])[None]),
                               torch.tensor([0.17], dtype=torch.float64))


# ------------------------------------------------------------------ fitting accuracy
@pytest.mark.parametrize("side", ["right", "left"])
def test_fit_with_known_intrinsics(side):
    d = synthetic_track(side, seed=11)
    fit = fit_track(d["px"], d["rel"], d["scores"], d["K"], side, HandModel(side=side))
    cam_mm, pa_mm, depth_rel, reproj = _errors(d, fit)
    # measured ~10-25 mm camera-space (mostly scale/depth from the noisy metric 3D),
    # ~3-5 mm PA-MPJPE, ~1.6 px reprojection at 2 px noise
    assert cam_mm < 40 and pa_mm < 8 and reproj < 3.0, (cam_mm, pa_mm, reproj)
    assert fit.global_orient.shape == (24, 3) and fit.hand_pose.shape == (24, 45)
    assert fit.betas.shape == (10,) and fit.transl.shape == (24, 3) and fit.confidence.shape == (24, 21)
    assert fit.keypoints_cam.dtype == np.float32 and fit.camera == "perspective"
    # the output is the model's own joints placed by transl: HandModel + transl reproduces it
    hand = HandModel(side=side)
    out = hand(global_orient=torch.as_tensor(fit.global_orient), hand_pose=torch.as_tensor(fit.hand_pose),
               betas=torch.as_tensor(fit.betas).expand(24, -1), transl=torch.as_tensor(fit.transl))
    np.testing.assert_allclose(out.keypoints.numpy(), fit.keypoints_cam, atol=1e-4)


@pytest.mark.parametrize("side", ["right", "left"])
def test_fit_with_unknown_intrinsics(side):
    """Assumed 60 deg across 640 px (f = 554 px) vs the true 600 px: depth ~8% short."""
    d = synthetic_track(side, seed=5)
    fit = fit_track(d["px"], d["rel"], d["scores"], None, side, HandModel(side=side), image_size=SIZE)
    cam_mm, pa_mm, depth_rel, reproj = _errors(d, fit)
    assert fit.camera == "weak_perspective"
    assert depth_rel < 0.15 and pa_mm < 8 and reproj < 3.0, (depth_rel, pa_mm, reproj)
    assert cam_mm < 100


def test_weak_perspective_loop_option():
    d = synthetic_track("right", seed=6)
    fit = fit_track(d["px"], d["rel"], d["scores"], None, "right", HandModel(), image_size=SIZE,
                    options=FitOptions(unknown_camera="weak_perspective"))
    cam_mm, pa_mm, depth_rel, reproj = _errors(d, fit)
    assert depth_rel < 0.2 and pa_mm < 12 and reproj < 12, (depth_rel, pa_mm, reproj)


def test_hand_length_fixes_scale_and_depth():
    """The detector's metric 3D is 20% too small (a size bias): without the hand length the
    hand comes out small and too close; with it, size and depth are right."""
    d = synthetic_track("right", seed=8, rel_scale=0.8)
    hand = HandModel()
    plain = fit_track(d["px"], d["rel"], d["scores"], d["K"], "right", hand)
    known = fit_track(d["px"], d["rel"], d["scores"], d["K"], "right", hand, hand_length_m=d["length"])
    _, _, depth_plain, _ = _errors(d, plain)
    cam_mm, pa_mm, depth_known, reproj = _errors(d, known)
    assert depth_plain > 0.1  # the scale bias shows up as depth
    assert depth_known < 0.03 and cam_mm < 30, (depth_known, cam_mm)
    layer = KeypointLayer(hand, dtype=torch.float64)
    length = float(layer.hand_length(torch.as_tensor(known.betas, dtype=torch.float64)[None]))
    assert abs(length - d["length"]) < 1e-3


def test_long_track_in_chunks_shares_shape_and_ignores_nan():
    d = synthetic_track("right", T=40, seed=2)
    px, scores = d["px"].copy(), d["scores"].copy()
    px[3, 8] = np.nan  # a missing keypoint
    fit = fit_track(px, d["rel"], scores, d["K"], "right", HandModel(), batch_size=16, iterations=60)
    assert np.isfinite(fit.keypoints_cam).all() and fit.betas.shape == (10,)
    cam_mm, pa_mm, _, reproj = _errors(d, fit)
    assert cam_mm < 40 and pa_mm < 10 and reproj < 3.5, (cam_mm, pa_mm, reproj)
    assert fit.confidence[3, 8] == 0


def test_bad_input_is_reported():
    d = synthetic_track("right", T=4, seed=1)
    hand = HandModel()
    with pytest.raises(ShapeError, match="keypoints_px"):
        fit_track(d["px"][:, :20], d["rel"], d["scores"], d["K"], "right", hand)
    with pytest.raises(ShapeError, match="scores"):
        fit_track(d["px"], d["rel"], d["scores"][:, :3], d["K"], "right", hand)
    with pytest.raises(InputError, match="left hand model"):
        fit_track(d["px"], d["rel"], d["scores"], d["K"], "right", HandModel(side="left"))
    with pytest.raises(InputError, match="image_size"):
        fit_track(d["px"], d["rel"], d["scores"], None, "right", hand)
    with pytest.raises(InputError, match="hand length"):
        fit_track(d["px"], d["rel"], d["scores"], d["K"], "right", hand, hand_length_m=1.7)
    with pytest.raises(InputError, match="no frames"):
        fit_track(d["px"][:0], d["rel"][:0], d["scores"][:0], d["K"], "right", hand)
