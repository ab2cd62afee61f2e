"""DGP (HandDGP eq. 3-7) on synthetic hands of the real hand model."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import least_squares

from handmocap.camera.pinhole import intrinsics_matrix, project
from handmocap.errors import InputError, ShapeError
from handmocap.geometry.rotations import axis_angle_to_matrix
from handmocap.hand import HandModel
from handmocap.solve.dgp import (BEHIND_CAMERA, ILL_CONDITIONED, NONFINITE, OK, TOO_FEW, DGPError,
                                 refine_translation, solve_translation)


def random_rotations(n, g):
    axis = torch.randn(n, 3, generator=g, dtype=torch.float64)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    angle = math.pi * torch.rand(n, 1, generator=g, dtype=torch.float64)
    return axis * angle


def synthetic_hands(n, seed=0, placements=1):
    """n random hands of the real model (random pose, shape, orientation) x `placements`
    random cameras (fov 35-100 deg, random size/principal point) with the wrist anywhere in
    view at depth 0.2-1.5 m. Returns keypoints_px, keypoints_rel (wrist-relative), t_true, K
    (float64), every keypoint at least 5 cm in front of the camera."""
    g = torch.Generator().manual_seed(seed)
    model = HandModel(dtype=torch.float64)
    with torch.no_grad():
        out = model(global_orient=random_rotations(n, g), hand_pose=0.3 * torch.randn(n, 45, generator=g, dtype=torch.float64),
                    betas=torch.randn(n, 10, generator=g, dtype=torch.float64))
    rel = out.keypoints - out.keypoints[:, :1]
    if placements > 1:  # more hands cheaply: re-orient copies of the model's hands
        R = axis_angle_to_matrix(random_rotations(n * placements, g))
        rel = rel.repeat(placements, 1, 1) @ R.transpose(1, 2)
    B = rel.shape[0]
    fov = torch.deg2rad(35 + 65 * torch.rand(B, generator=g, dtype=torch.float64))
    W = torch.tensor([640.0, 1280.0, 1920.0, 720.0], dtype=torch.float64)[torch.randint(0, 4, (B,), generator=g)]
    H = torch.where(W == 720.0, 1280.0, W * 9 / 16)
    f = 0.5 * W / torch.tan(fov / 2)
    aspect = 1 + 0.02 * (torch.rand(B, generator=g, dtype=torch.float64) - 0.5)
    cx = (W - 1) / 2 + 0.05 * W * (torch.rand(B, generator=g, dtype=torch.float64) - 0.5)
    cy = (H - 1) / 2 + 0.05 * H * (torch.rand(B, generator=g, dtype=torch.float64) - 0.5)
    K = intrinsics_matrix(f, f * aspect, cx, cy)
    uv = torch.stack([W, H], -1) * (0.02 + 0.96 * torch.rand(B, 2, generator=g, dtype=torch.float64))
    depth = 0.2 + 1.3 * torch.rand(B, generator=g, dtype=torch.float64)
    depth = torch.maximum(depth, 0.05 - rel[..., 2].min(-1).values)
    ray = torch.cat([(uv[:, 0:1] - cx[:, None]) / f[:, None], (uv[:, 1:2] - cy[:, None]) / (f * aspect)[:, None],
                     torch.ones(B, 1, dtype=torch.float64)], 1)
    t = ray * depth[:, None]
    px = project(rel + t[:, None], K)
    return px, rel, t, K


@pytest.fixture(scope="module")
def hands():
    return synthetic_hands(64, seed=1)


def test_exact_recovery_float64(hands, device):
    px, rel, t, K = (x.to(device) for x in hands)
    res = solve_translation(px, rel, None, K)
    err = (res.transl - t).norm(dim=-1).max().item()
    print(f"\nDGP exact-recovery max error (float64, {len(t)} hands): {err:.3e} m")
    assert res.valid.all()
    assert err < 1e-6
    assert res.residual_px.max() < 1e-6


def test_exact_recovery_dtypes(hands, device, dtype):
    px, rel, t, K = (x.to(device, dtype) for x in hands)
    w = torch.rand(px.shape[:2], generator=torch.Generator().manual_seed(3), dtype=torch.float64).to(device, dtype) + 0.1
    res = solve_translation(px, rel, w, K)
    assert res.transl.dtype == dtype and res.transl.device.type == device.type
    # float32 keeps ~7 digits; the solve amplifies them by the conditioning (~1e3)
    tol = 1e-6 if dtype == torch.float64 else 2e-3 * t.norm(dim=-1).max().item()
    assert res.valid.all()
    assert (res.transl - t).norm(dim=-1).max() < tol


def test_per_item_intrinsics_and_shared_K():
    px, rel, t, K = synthetic_hands(8, seed=5)
    one = solve_translation(px[:1], rel[:1], None, K[0])
    many = solve_translation(px, rel, None, K)
    assert torch.allclose(one.transl[0], many.transl[0], atol=1e-12)
    assert torch.allclose(many.transl, t, atol=1e-9)


def scipy_reprojection_solve(px, rel, w, K, t0):
    """Reference: weighted pixel reprojection error minimised over t by scipy."""
    px, rel, w, K, t0 = (x.numpy() for x in (px, rel, w, K, t0))

    def resid(t):
        p = (rel + t) @ K.T
        return (w[:, None] * (p[:, :2] / p[:, 2:] - px)).ravel()

    return least_squares(resid, t0, xtol=1e-15, ftol=1e-15, gtol=1e-15, method="lm").x


def test_noise_against_nonlinear_reference(hands):
    px, rel, t, K = hands
    g = torch.Generator().manual_seed(7)
    noisy = px + 2.0 * torch.randn(px.shape, generator=g, dtype=torch.float64)
    w = 0.2 + 0.8 * torch.rand(px.shape[:2], generator=g, dtype=torch.float64)
    dlt = solve_translation(noisy, rel, w, K)
    gn = refine_translation(dlt.transl, noisy, rel, w, K, iterations=8)
    ref = torch.tensor(np.stack([scipy_reprojection_solve(noisy[i], rel[i], w[i], K[i], t[i]) for i in range(len(t))]))
    gap_dlt = (dlt.transl - ref).norm(dim=-1)
    gap_gn = (gn.transl - ref).norm(dim=-1)
    err_ref = (ref - t).norm(dim=-1)
    print(f"\n2 px noise: DLT-vs-reference gap median {1e3 * gap_dlt.median():.3f} mm, "
          f"max {1e3 * gap_dlt.max():.3f} mm; Gauss-Newton gap max {gap_gn.max():.2e} m; "
          f"reference error to truth median {1e3 * err_ref.median():.2f} mm")
    assert gap_gn.max() < 1e-7  # refinement converges to the reprojection optimum
    # the DLT is near the optimum but not at it (algebraic objective): its error to the truth
    # is of the same order as the optimum's, and on average larger
    err_dlt = (dlt.transl - t).norm(dim=-1)
    assert err_dlt.median() < 2 * err_ref.median()
    assert err_dlt.mean() > err_ref.mean()
    assert gap_dlt.median() > 1e-6
    # the optimum has the smaller reprojection error, by construction
    assert (gn.residual_px <= dlt.residual_px + 1e-9).all()


def test_gradcheck_float64():
    px, rel, t, K = synthetic_hands(3, seed=11)
    px, rel = px[:, :7].clone(), rel[:, :7].clone()
    w = torch.rand(3, 7, generator=torch.Generator().manual_seed(2), dtype=torch.float64) + 0.1
    inputs = tuple(x.clone().requires_grad_(True) for x in (px, rel, w, K))
    assert torch.autograd.gradcheck(lambda a, b, c, k: solve_translation(a, b, c, k).transl, inputs)
    assert torch.autograd.gradcheck(lambda a, b, c, k: solve_translation(a, b, c, k, refine_iters=2).transl,
                                    inputs)


def test_zero_weight_keypoints_have_no_influence(hands):
    px, rel, t, K = (x[:6].clone() for x in hands)
    noisy = px + torch.randn(px.shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    w = torch.ones(px.shape[:2], dtype=torch.float64)
    w[:, [4, 8, 20]] = 0
    base = solve_translation(noisy, rel, w, K)
    # the same hands without those keypoints at all
    keep = [i for i in range(21) if i not in (4, 8, 20)]
    dropped = solve_translation(noisy[:, keep], rel[:, keep], w[:, keep], K)
    assert torch.allclose(base.transl, dropped.transl, atol=1e-12)
    # garbage (even NaN) in zero-weight keypoints changes nothing, and gets zero gradient
    px2, rel2 = noisy.clone(), rel.clone()
    px2[:, 4] = 1e6
    px2[:, 8] = float("nan")
    rel2[:, 20] = float("inf")
    px2.requires_grad_(True)
    rel2.requires_grad_(True)
    w.requires_grad_(True)
    res = solve_translation(px2, rel2, w, K)
    assert torch.allclose(res.transl, base.transl, atol=1e-12)
    assert res.valid.all()
    (res.transl.sum() + res.residual_px.sum()).backward()
    for grad in (px2.grad, rel2.grad):
        assert torch.isfinite(grad).all()
        assert (grad[:, [4, 8, 20]] == 0).all()
    assert torch.isfinite(w.grad).all()


def test_degenerate_items_are_flagged_not_nan(hands):
    px, rel, t, K = (x[:7].clone() for x in hands)
    w = torch.ones(px.shape[:2], dtype=torch.float64)
    w[0] = 0                                  # all weights zero
    w[1, 1:] = 0                              # one usable keypoint
    px[2, 5, 0] = float("nan")                # NaN in a weighted keypoint
    w[3, 2] = float("nan")                    # NaN weight
    px[4] = px[4, :1]                         # all keypoints on the same pixel
    px[5] = project(rel[5] - t[5], K[5])      # 2D of a hand behind the camera
    px.requires_grad_(True)
    rel.requires_grad_(True)
    res = solve_translation(px, rel, w, K)
    assert res.status.tolist() == [TOO_FEW, TOO_FEW, NONFINITE, NONFINITE, ILL_CONDITIONED, BEHIND_CAMERA, OK]
    assert res.valid.tolist() == [False] * 6 + [True]
    assert torch.isfinite(res.transl).all()
    assert (res.transl[:6] == 0).all()
    assert torch.isinf(res.residual_px[:6]).all()
    assert torch.allclose(res.transl[6], t[6], atol=1e-9)
    # gradients of a mixed batch: finite everywhere, zero for invalid hands
    loss = res.transl[res.valid].sum() + res.residual_px[res.valid].sum()
    loss.backward()
    assert torch.isfinite(px.grad).all() and torch.isfinite(rel.grad).all()
    assert (px.grad[:6] == 0).all()
    assert "fewer than two" in res.messages()[0]
    with pytest.raises(DGPError, match="hand 0 of 7: fewer than two"):
        solve_translation(px.detach(), rel.detach(), w, K, strict=True)


def test_bad_input_errors(hands):
    px, rel, t, K = hands
    with pytest.raises(ShapeError, match="keypoints_rel"):
        solve_translation(px, rel[:, :20], None, K)
    with pytest.raises(ShapeError, match="K"):
        solve_translation(px, rel, None, K[:3])
    with pytest.raises(InputError, match="weights"):
        solve_translation(px, rel, -torch.ones(px.shape[:2], dtype=torch.float64), K)
    bad_K = K.clone()
    bad_K[0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="K"):
        solve_translation(px, rel, None, bad_K)
    with pytest.raises(ShapeError, match="dtype"):
        solve_translation(px.float(), rel, None, K)


def test_ten_thousand_hands_one_call():
    px, rel, t, K = synthetic_hands(100, seed=3, placements=100)
    assert len(t) == 10_000
    # one batched call solves them all exactly (its speed is a benchmark figure: bench.stages)
    res = solve_translation(px, rel, None, K)
    assert res.valid.all()
    assert (res.transl - t).norm(dim=-1).max() < 1e-6
