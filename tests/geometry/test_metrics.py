"""Metrics (FreiHAND protocol) and Procrustes against hand-computed values."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from handmocap.errors import ShapeError
from handmocap.geometry import metrics as M
from handmocap.geometry.procrustes import procrustes_align, similarity_procrustes
from handmocap.geometry.rotations import axis_angle_to_matrix

SQUARE = np.array([[-1.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, -1, 0]])
STRETCHED = np.array([[-1.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, -2, 0]])


def test_mpjpe_by_hand(device, dtype):
    pred = torch.zeros(1, 2, 3, dtype=dtype, device=device)
    gt = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 1.0]]], dtype=dtype, device=device)
    out = M.mpjpe(pred, gt)
    assert out.shape == (1,) and out.dtype == dtype
    assert out.item() == pytest.approx(3.0)  # (5 + 1) / 2
    assert isinstance(M.mpjpe(pred.cpu().numpy(), gt.cpu().numpy()), np.ndarray)


def test_pa_mpjpe_by_hand():
    # best similarity: R = I (symmetry), s = sum q.p / sum |p|^2 = 6 / 10, aligned errors
    # 0.4, 0.4, 0.2, 0.2 -> 0.3
    assert M.pa_mpjpe(STRETCHED[None], SQUARE[None])[0] == pytest.approx(0.3)
    s, R, t = similarity_procrustes(torch.tensor(STRETCHED)[None], torch.tensor(SQUARE)[None])
    assert s.item() == pytest.approx(0.6) and torch.allclose(R[0], torch.eye(3, dtype=torch.float64))
    assert torch.allclose(t, torch.zeros(1, 3, dtype=torch.float64))


def test_pa_removes_similarity_exactly(device, dtype):
    g = torch.Generator().manual_seed(0)
    gt = torch.randn(3, 21, 3, generator=g, dtype=torch.float64)
    R = axis_angle_to_matrix(torch.randn(3, 3, generator=g, dtype=torch.float64))
    pred = 1.7 * gt @ R.transpose(1, 2) + torch.randn(3, 1, 3, generator=g, dtype=torch.float64)
    pred, gt = pred.to(device, dtype), gt.to(device, dtype)
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    assert M.pa_mpjpe(pred, gt).max() < tol
    assert M.pa_mpvpe(pred, gt).max() < tol
    assert M.mpjpe(pred, gt).min() > 0.1
    assert torch.allclose(procrustes_align(pred, gt), gt, atol=tol * 10)


def test_pa_never_reflects():
    pts = torch.tensor([[0.0, 0, 0], [1, 0, 0], [0, 2, 0], [0, 0, 3]], dtype=torch.float64)[None]
    mirrored = pts * torch.tensor([-1.0, 1, 1], dtype=torch.float64)
    s, R, _ = similarity_procrustes(mirrored, pts)
    assert torch.linalg.det(R).item() == pytest.approx(1.0)
    assert M.pa_mpjpe(mirrored, pts).item() > 0.1


def test_f_score_by_hand():
    gt = np.array([[[0.0, 0, 0], [1, 0, 0]]])
    pred = np.array([[[0.0, 0, 0.004], [1, 0, 0.02]]])
    assert M.f_score(pred, gt, 0.005, align=False)[0] == pytest.approx(0.5)  # P = R = 1/2
    assert M.f_score(pred, gt, 0.03, align=False)[0] == pytest.approx(1.0)
    both_near_first = np.array([[[0.0, 0, 0], [0, 0, 0.001]]])
    # precision 1 (both predictions near a gt vertex), recall 1/2 -> 2/3
    assert M.f_score(both_near_first, gt, 0.005, align=False)[0] == pytest.approx(2 / 3)
    far = np.array([[[5.0, 5, 5], [6, 6, 6]]])
    assert M.f_score(far, gt, 0.005, align=False)[0] == 0.0
    # aligned (FreiHAND default): a scaled, moved copy is perfect
    assert M.f_score(3 * gt + 1.0, gt, 0.005)[0] == pytest.approx(1.0)


def test_pck_and_auc_by_hand():
    errors = np.array([[0.001, 0.02], [0.006, 0.04]])
    # per keypoint: kp0 [1/2, 1], kp1 [0, 1/2] -> mean [1/4, 3/4]
    assert np.allclose(M.pck_3d(errors, [0.005, 0.03]), [0.25, 0.75])
    visible = np.array([[True, True], [False, True]])
    # kp0 only sample 0: [1, 1]; kp1 [0, 1/2]
    assert np.allclose(M.pck_3d(errors, [0.005, 0.03], visible), [0.5, 0.75])
    assert float(M.auc(np.zeros((4, 21)))) == pytest.approx(1.0)
    assert float(M.auc(np.full((4, 21), 0.06))) == pytest.approx(0.0)
    # every error at 25 mm: the curve steps from 0 to 1 half-way -> area 1/2
    assert float(M.auc(np.full((4, 21), 0.025))) == pytest.approx(0.5)
    # uniform errors over [0, 50 mm]: PCK(t) = t / 50 mm -> area 1/2
    uni = np.linspace(0, 0.05, 100001)[:, None]
    assert float(M.auc(uni)) == pytest.approx(0.5, abs=1e-3)
    t = M.auc(torch.tensor(errors))
    assert isinstance(t, torch.Tensor)


def test_pck_2d_by_hand():
    gt = np.zeros((1, 3, 2))
    pred = np.array([[[3.0, 4.0], [1.0, 0.0], [30.0, 40.0]]])  # errors 5, 1, 50 px
    assert np.allclose(M.pck_2d(pred, gt, [0.5, 1, 5, 10, 50]), [0, 1 / 3, 2 / 3, 2 / 3, 1])


def test_joint_errors_and_bad_shapes():
    assert np.allclose(M.joint_errors(np.array([[3.0, 4.0, 0]]), np.zeros((1, 3))), [5.0])
    with pytest.raises(ShapeError, match="mpjpe gt"):
        M.mpjpe(np.zeros((2, 21, 3)), np.zeros((2, 20, 3)))
    with pytest.raises(ShapeError):
        M.pa_mpjpe(np.zeros((2, 21, 2)), np.zeros((2, 21, 2)))
    assert math.isclose(float(M.mpjpe(np.ones((5, 3)), np.zeros((5, 3)))), math.sqrt(3))
