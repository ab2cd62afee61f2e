"""Rectification to a canonical camera as a perspective crop (HandDGP sec. 3.3)."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmocap.camera import rectify as rc
from handmocap.camera.intrinsics import Intrinsics
from handmocap.camera.pinhole import project
from handmocap.errors import ShapeError
from handmocap.geometry.rotations import axis_angle_to_matrix, matrix_to_axis_angle
from handmocap.hand import HandModel
from handmocap.solve.dgp import solve_translation

W, H = 1280, 720
CROP = (256, 224)


def corner_hands(dtype=torch.float64):
    """Real-model hands near the four image corners and the centre of a wide (90 deg) camera."""
    K = Intrinsics.from_fov(90.0, W, H).K(torch.float64)
    g = torch.Generator().manual_seed(0)
    model = HandModel(dtype=torch.float64)
    B = 5
    orient = torch.randn(B, 3, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = model(global_orient=orient, hand_pose=0.3 * torch.randn(B, 45, generator=g, dtype=torch.float64),
                    betas=torch.randn(B, 10, generator=g, dtype=torch.float64))
    rel = out.keypoints - out.keypoints[:, :1]
    corners_px = torch.tensor([[60.0, 50.0], [W - 60.0, 50.0], [60.0, H - 50.0], [W - 60.0, H - 50.0],
                               [W / 2, H / 2]], dtype=torch.float64)
    depth = torch.tensor([0.5, 0.8, 0.4, 1.2, 0.6], dtype=torch.float64)
    ray = torch.cat([(corners_px - K[:2, 2]) / K[0, 0], torch.ones(B, 1, dtype=torch.float64)], 1)
    t = ray * depth[:, None]
    px = project(rel + t[:, None], K)
    return px.to(dtype), rel.to(dtype), t.to(dtype), K.to(dtype), orient.to(dtype)


def test_round_trip_and_centre(device, dtype):
    px, rel, t, K, _ = (x.to(device) for x in corner_hands(dtype))
    centre = px.mean(1)
    rect = rc.rectify_params(K, centre, CROP, canonical_focal=400.0)
    R = rect.R
    eye = torch.eye(3, dtype=dtype, device=device).expand_as(R)
    assert torch.allclose(R @ R.transpose(1, 2), eye, atol=1e-6)
    assert torch.allclose(torch.linalg.det(R), torch.ones(len(R), dtype=dtype, device=device), atol=1e-6)
    v = rc.points_to_virtual(px, rect)
    back = rc.points_from_virtual(v, rect)
    tol = 1e-4 if dtype == torch.float64 else 2e-2
    assert (back - px).abs().max() < tol
    # every hand, the corner ones included, lands on the crop centre
    crop_centre = torch.tensor([(CROP[0] - 1) / 2, (CROP[1] - 1) / 2], dtype=dtype, device=device)
    assert torch.allclose(rc.points_to_virtual(centre, rect), crop_centre.expand(5, 2), atol=tol)
    # a hand at the principal point needs no rotation
    still = rc.rectify_params(K, K[:2, 2][None], CROP, canonical_focal=400.0)
    assert torch.allclose(still.R[0], eye[0], atol=1e-6)


def test_is_exact_reimaging_without_distortion():
    """Projecting the rotated 3D hand with K_virtual gives the same pixels as warping the real
    pixels: the crop is a true pinhole image of the scene (no perspective distortion)."""
    px, rel, t, K, _ = corner_hands()
    rect = rc.rectify_params(K, px.mean(1), CROP, 300.0)
    pts_v = rc.points3d_to_virtual(rel + t[:, None], rect)
    direct = project(pts_v, rect.K_virtual)
    assert (direct - rc.points_to_virtual(px, rect)).abs().max() < 1e-8
    # the virtual camera looks at the hand: its centre ray is the optical axis
    axis = rc.points3d_to_virtual(torch.cat([(px.mean(1) - K[:2, 2]) / K[0, 0], torch.ones(5, 1, dtype=torch.float64)], 1), rect)
    assert torch.allclose(axis[:, :2], torch.zeros(5, 2, dtype=torch.float64), atol=1e-12)


def test_translation_from_virtual_equals_original_solve():
    px, rel, t, K, _ = corner_hands()
    rect = rc.rectify_params(K, px.mean(1), CROP, 350.0)
    real = solve_translation(px, rel, None, K)
    virt = solve_translation(rc.points_to_virtual(px, rect), rc.points3d_to_virtual(rel, rect), None, rect.K_virtual)
    back = rc.translation_from_virtual(virt.transl, rect)
    assert virt.valid.all() and real.valid.all()
    assert (back - real.transl).abs().max() < 1e-9
    assert (back - t).abs().max() < 1e-9
    assert torch.allclose(rc.translation_to_virtual(back, rect), virt.transl)


def test_global_orient_maps_with_the_camera():
    px, rel, t, K, orient = corner_hands()
    rect = rc.rectify_params(K, px.mean(1), CROP, 350.0)
    R_v = rc.rotation_to_virtual(axis_angle_to_matrix(orient), rect)
    model = HandModel(dtype=torch.float64)
    g = torch.Generator().manual_seed(0)
    torch.randn(5, 3, generator=g, dtype=torch.float64)  # same pose/shape draws as corner_hands
    hand_pose = 0.3 * torch.randn(5, 45, generator=g, dtype=torch.float64)
    betas = torch.randn(5, 10, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = model(global_orient=matrix_to_axis_angle(R_v), hand_pose=hand_pose, betas=betas)
    rel_v = out.keypoints - out.keypoints[:, :1]
    assert (rel_v - rc.points3d_to_virtual(rel, rect)).abs().max() < 1e-9
    back = rc.rotation_from_virtual(R_v, rect)
    assert torch.allclose(back, axis_angle_to_matrix(orient), atol=1e-12)
    assert torch.allclose(rc.points3d_from_virtual(rel_v, rect), rel, atol=1e-12)


def test_warp_image_puts_corner_hand_at_crop_centre():
    import cv2

    K = Intrinsics.from_fov(90.0, W, H).K()
    image = np.zeros((H, W, 3), np.uint8)
    spots = np.array([[100.0, 80.0], [130.0, 95.0], [85.0, 120.0]])
    for x, y in spots:
        cv2.circle(image, (int(x), int(y)), 4, (255, 255, 255), -1)
    rect = rc.rectify_params(K, torch.tensor(spots[:1]), CROP, 600.0)
    crop = rc.warp_image(image, rect)
    assert crop.shape == (CROP[1], CROP[0], 3)
    predicted = rc.points_to_virtual(torch.tensor(spots)[None], rect)[0].numpy()
    gray = crop[..., 0].astype(float)
    for p in predicted:  # each spot appears where points_to_virtual says
        x0, y0 = int(round(p[0])), int(round(p[1]))
        patch = gray[y0 - 12:y0 + 13, x0 - 12:x0 + 13]
        ys, xs = np.nonzero(patch > 128)
        centroid = np.array([xs.mean() + x0 - 12, ys.mean() + y0 - 12])
        assert np.linalg.norm(centroid - p) < 1.0
    first = predicted[0]
    assert np.allclose(first, [(CROP[0] - 1) / 2, (CROP[1] - 1) / 2], atol=1e-6)
    assert rc.warp_image(image[..., 0], rect).shape == (CROP[1], CROP[0])


def test_gradcheck():
    px, rel, t, K, _ = corner_hands()
    px = px[:2, :4].clone().requires_grad_(True)
    centre = px.detach().mean(1).requires_grad_(True)
    Kg = K.clone().requires_grad_(True)

    def fwd(p, c, k):
        rect = rc.rectify_params(k, c, CROP, 320.0)
        v = rc.points_to_virtual(p, rect)
        return torch.cat([v.reshape(-1), rc.points_from_virtual(v, rect).reshape(-1)])

    assert torch.autograd.gradcheck(fwd, (px, centre, Kg))
    tv = t[:2].clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda x, c: rc.translation_from_virtual(x, rc.rectify_params(K, c, 64, 100.0)),
                                    (tv, centre))


def test_bad_input():
    K = torch.eye(3, dtype=torch.float64)
    with pytest.raises(ShapeError, match="center_px"):
        rc.rectify_params(K, torch.zeros(3, dtype=torch.float64), 64, 100.0)
    with pytest.raises(Exception, match="positive"):
        rc.rectify_params(K, torch.zeros(1, 2, dtype=torch.float64), 0, 100.0)
    rect = rc.rectify_params(K, torch.zeros(1, 2, dtype=torch.float64), 64, 100.0)
    with pytest.raises(Exception, match="numpy image"):
        rc.warp_image(torch.zeros(4, 4), rect)
    assert math.isclose(float(rect.K_virtual[0, 0, 2]), 31.5)
