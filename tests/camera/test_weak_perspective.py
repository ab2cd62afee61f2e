"""Weak-perspective camera (Boukhayma eq. 3-4): projection, closed-form fit, conversion to depth."""
from __future__ import annotations

import math
import re

import pytest
import torch

import handmocap.camera.weak_perspective as wp
from handmocap.camera.intrinsics import Intrinsics
from handmocap.camera.pinhole import project
from handmocap.errors import InputError
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel


def test_project_formula(device, dtype):
    pts = torch.tensor([[[0.1, -0.2, 5.0], [0.0, 0.0, -3.0]]], dtype=dtype, device=device)
    s = torch.tensor([100.0], dtype=dtype, device=device)
    t = torch.tensor([[10.0, 20.0]], dtype=dtype, device=device)
    out = wp.weak_perspective_project(pts, s, t)
    assert torch.allclose(out, torch.tensor([[[20.0, 0.0], [10.0, 20.0]]], dtype=dtype, device=device))
    R = axis_angle_to_matrix(torch.tensor([[0.0, 0.0, math.pi / 2]], dtype=dtype, device=device))
    rot = wp.weak_perspective_project(pts[:, :1], s, t, R)  # (x, y) -> (-y, x)
    assert torch.allclose(rot, torch.tensor([[[30.0, 30.0]]], dtype=dtype, device=device), atol=1e-4)


def test_fit_recovers_exact_parameters(device, dtype):
    g = torch.Generator().manual_seed(0)
    pts = (0.05 * torch.randn(6, 21, 3, generator=g, dtype=torch.float64)).to(device, dtype)
    s = (500 + 1000 * torch.rand(6, generator=g, dtype=torch.float64)).to(device, dtype)
    t = (640 * torch.rand(6, 2, generator=g, dtype=torch.float64)).to(device, dtype)
    w = torch.rand(6, 21, generator=g, dtype=torch.float64).to(device, dtype)
    w[:, :3] = 0
    x = wp.weak_perspective_project(pts, s, t)
    x[:, :3] += 1000.0  # outliers with zero weight: no influence
    s_fit, t_fit = wp.fit_weak_perspective(x, pts, w)
    tol = 1e-8 if dtype == torch.float64 else 1e-3
    assert torch.allclose(s_fit, s, rtol=tol) and torch.allclose(t_fit, t, atol=tol * 1e3)


def test_fit_gradcheck():
    g = torch.Generator().manual_seed(1)
    pts = (0.05 * torch.randn(2, 6, 3, generator=g, dtype=torch.float64)).requires_grad_(True)
    x = (300 * torch.rand(2, 6, 2, generator=g, dtype=torch.float64)).requires_grad_(True)
    w = (0.1 + torch.rand(2, 6, generator=g, dtype=torch.float64)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a, b, c: torch.cat([v.reshape(2, -1) for v in wp.fit_weak_perspective(a, b, c)], 1),
                                    (x, pts, w))
    s = torch.tensor([900.0, 1500.0], dtype=torch.float64, requires_grad=True)
    K = Intrinsics(800, 820, 320, 240).K().requires_grad_(True)
    assert torch.autograd.gradcheck(wp.weak_perspective_to_translation, (s, x[:, 0].detach().requires_grad_(True), K))


def test_translation_round_trip():
    K = Intrinsics(800, 800, 319.5, 239.5).K()
    transl = torch.tensor([[0.1, -0.05, 0.6], [-0.3, 0.2, 1.2]], dtype=torch.float64)
    s, t = wp.translation_to_weak_perspective(transl, K)
    assert torch.allclose(s, 800 / transl[:, 2])
    assert torch.allclose(wp.weak_perspective_to_translation(s, t, K), transl)


def test_fit_bad_input():
    pts = torch.zeros(1, 21, 3)
    with pytest.raises(InputError, match="fewer than two"):
        wp.fit_weak_perspective(torch.zeros(1, 21, 2), pts)


def perspective_hand(fov_deg, depth=0.6, size=(1280, 720)):
    model = HandModel(dtype=torch.float64)
    with torch.no_grad():
        out = model(global_orient=torch.tensor([[0.0, 0.0, math.pi / 2]], dtype=torch.float64),
                    hand_pose=torch.zeros(1, 45, dtype=torch.float64), betas=torch.zeros(1, 10, dtype=torch.float64))
    rel = out.keypoints - out.keypoints[:, :1]
    true = Intrinsics.from_fov(fov_deg, *size, axis="max")
    t = torch.tensor([[0.05, 0.02, depth]], dtype=torch.float64)
    return project(rel + t, true.K()), rel, t


@pytest.mark.parametrize("fov", [40.0, 60.0, 90.0])
def test_depth_error_matches_documented_formula(fov):
    """Fit (s, t) to a perspective image of a real-model hand, convert with the assumed focal:
    the depth error is f_assumed / f_true - 1 up to the weak-perspective approximation."""
    px, rel, t = perspective_hand(fov)
    s, off = wp.fit_weak_perspective(px, rel)
    assumed = wp.assumed_intrinsics(1280, 720)
    assert assumed.fx == pytest.approx(0.5 * 1280 / math.tan(math.radians(wp.ASSUMED_FOV_DEG / 2)))
    est = wp.weak_perspective_to_translation(s, off, assumed.K())
    measured = est[0, 2].item() / t[0, 2].item() - 1
    predicted = wp.depth_error_for_fov(fov)
    assert measured == pytest.approx(predicted, abs=0.05 * (1 + predicted))
    # with the true focal length only the weak-perspective approximation error remains
    exact = wp.weak_perspective_to_translation(s, off, Intrinsics.from_fov(fov, 1280, 720, axis="max").K())
    assert abs(exact[0, 2].item() / t[0, 2].item() - 1) < 0.05


def test_docstring_table_is_current():
    doc = wp.__doc__
    fovs = [float(v) for v in re.search(r"true fov \(deg\)\s+([\d\s]+)\n", doc).group(1).split()]
    errs = [float(v) for v in re.findall(r"([+-]?\d+)%", re.search(r"^\s*depth error\s+(.*)$", doc, re.M).group(1))]
    assert len(fovs) == len(errs) == 12
    for fov, err in zip(fovs, errs):
        assert round(100 * wp.depth_error_for_fov(fov)) == err
