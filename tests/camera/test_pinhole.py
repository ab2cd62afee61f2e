"""Pinhole projection / unprojection."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from handmocap.camera.pinhole import intrinsics_matrix, pixels_to_normalized, project, unproject
from handmocap.errors import ShapeError


def test_project_matches_opencv(device, dtype):
    g = torch.Generator().manual_seed(0)
    pts = torch.randn(50, 3, generator=g, dtype=torch.float64) * 0.2 + torch.tensor([0, 0, 1.0], dtype=torch.float64)
    K = np.array([[812.0, 0, 321.5], [0, 799.0, 238.25], [0, 0, 1]])
    ref, _ = cv2.projectPoints(pts.numpy(), np.zeros(3), np.zeros(3), K, None)
    out = project(pts.to(device, dtype), torch.as_tensor(K, dtype=dtype, device=device))
    assert out.dtype == dtype and out.device.type == device.type
    tol = 1e-9 if dtype == torch.float64 else 1e-3
    assert np.abs(out.cpu().double().numpy() - ref[:, 0]).max() < tol


def test_principal_point_and_units():
    K = intrinsics_matrix(500.0, 500.0, 319.5, 239.5)
    # a point on the optical axis lands on the principal point, 1 cm right at 1 m -> 5 px right
    out = project(torch.tensor([[0.0, 0, 2.0], [0.01, 0, 1.0]], dtype=torch.float64), K)
    assert torch.allclose(out, torch.tensor([[319.5, 239.5], [324.5, 239.5]], dtype=torch.float64))


def test_round_trip_batched_with_skew(device, dtype):
    g = torch.Generator().manual_seed(1)
    B, N = 4, 9
    K = intrinsics_matrix(600 + 100 * torch.rand(B, generator=g), 610 + 100 * torch.rand(B, generator=g),
                          320.0, 240.0, skew=torch.rand(B, generator=g), dtype=dtype, device=device)
    pts = (torch.randn(B, N, 3, generator=g, dtype=torch.float64) * 0.1
           + torch.tensor([0, 0, 0.8], dtype=torch.float64)).to(device, dtype)
    px = project(pts, K)
    back = unproject(px, K, pts[..., 2])
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    assert torch.allclose(back, pts, atol=tol)
    rays = unproject(px, K)
    assert torch.allclose(rays[..., 2], torch.ones_like(rays[..., 2]))
    # one K per item and one point per item
    assert torch.allclose(project(pts[:, 0], K), px[:, 0], atol=tol * 1e3)
    assert torch.allclose(pixels_to_normalized(px, K), pts[..., :2] / pts[..., 2:], atol=tol)


def test_gradcheck():
    g = torch.Generator().manual_seed(2)
    pts = (torch.randn(2, 5, 3, generator=g, dtype=torch.float64) * 0.1
           + torch.tensor([0, 0, 1.0], dtype=torch.float64)).requires_grad_(True)
    K = intrinsics_matrix(torch.tensor([500.0, 700.0]), 510.0, 300.0, 200.0).requires_grad_(True)
    assert torch.autograd.gradcheck(project, (pts, K))
    px = project(pts, K).detach().requires_grad_(True)
    depth = pts[..., 2].detach().requires_grad_(True)
    assert torch.autograd.gradcheck(unproject, (px, K, depth))


def test_bad_shapes():
    with pytest.raises(ShapeError, match="points_cam"):
        project(torch.zeros(4, 2), torch.eye(3))
    with pytest.raises(ShapeError, match="K"):
        project(torch.ones(4, 3), torch.eye(4))
