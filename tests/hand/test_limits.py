"""Joint limits: anatomical frames, angle <-> axis-angle conversions, penalty, clamping."""
import math

import numpy as np
import pytest
import torch

from handmocap import ShapeError
from handmocap.hand import HandModel, load_hand_asset
from handmocap.hand.limits import (
    FINGER_JOINTS, angles_to_hand_pose, build_joint_limits, clamp_to_limits, default_joint_limits,
    frames_from_geometry, hand_pose_to_angles, limit_penalty, read_limit_table, within_limits)
from handmocap.hand.mirror import mirror_axis_angle

D = torch.float64


@pytest.fixture(scope="module")
def lim():
    return default_joint_limits()


@pytest.fixture(scope="module")
def model():
    return HandModel(dtype=D)


def _random_inside(n, lim, seed=0):
    g = torch.Generator().manual_seed(seed)
    lo, hi = torch.as_tensor(lim.lower), torch.as_tensor(lim.upper)
    return lo + (hi - lo) * torch.rand(n, 15, 3, generator=g, dtype=D)


def test_table_ranges_are_ordered_and_anatomical():
    table = read_limit_table()["joints"]
    assert len(table) == 15
    for name, e in table.items():
        for k in ("flexion", "abduction", "twist"):
            assert e[k][0] < e[k][1], (name, k)
    for f in ("index", "middle", "ring", "pinky"):
        assert table[f + "1"]["flexion"][1] >= 80 and table[f + "2"]["flexion"][1] >= 100
        assert table[f + "3"]["flexion"][1] >= 70 and table[f + "3"]["abduction"][1] <= 10


def test_frames_orthonormal_right_handed_twist_along_bone(lim):
    asset = load_hand_asset("open")
    F = lim.frames
    np.testing.assert_allclose(F.transpose(0, 2, 1) @ F, np.broadcast_to(np.eye(3), F.shape), atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(F), 1.0, atol=1e-9)
    J = asset.J_regressor @ asset.v_template
    for chain in FINGER_JOINTS.values():
        for a, b in zip(chain[:2], chain[1:]):
            bone = (J[b] - J[a]) / np.linalg.norm(J[b] - J[a])
            assert F[a - 1][:, 2] @ bone > 0.999
    # the four fingers flex about an axis roughly perpendicular to the palm normal (y)
    for f in ("index", "middle", "ring", "pinky"):
        for j in FINGER_JOINTS[f]:
            assert abs(F[j - 1][:, 0] @ np.array([0.0, 1.0, 0.0])) < 0.35


def test_geometric_fallback_frames_agree_with_stored_ones(lim):
    asset = load_hand_asset("open")
    G = frames_from_geometry(asset)
    cos = np.einsum("ji,ji->j", G[:, :, 0], lim.frames[:, :, 0])
    assert np.degrees(np.arccos(np.clip(cos, -1, 1))).max() < 20


@pytest.mark.parametrize("joint_index", [0, 1, 2])  # MCP, PIP, DIP
def test_positive_flexion_curls_towards_the_palm(model, joint_index):
    tips = model.fingertip_ids
    flat = model().vertices[0, tips]
    for k, f in enumerate(("thumb", "index", "middle", "ring", "pinky")):
        ang = torch.zeros(1, 15, 3, dtype=D)
        ang[0, FINGER_JOINTS[f][joint_index] - 1, 0] = math.radians(60)
        tip = model(hand_pose=angles_to_hand_pose(ang)).vertices[0, tips[k]]
        assert tip[1] < flat[k, 1] - 0.005, f  # palm faces -y
        if f != "thumb":  # and towards the wrist, not sideways
            assert tip[0] > flat[k, 0]


def test_positive_abduction_spreads_away_from_the_middle_finger(model):
    tips = model.fingertip_ids
    flat = model().vertices[0, tips]
    for k, f in [(1, "index"), (3, "ring"), (4, "pinky")]:
        ang = torch.zeros(1, 15, 3, dtype=D)
        ang[0, FINGER_JOINTS[f][0] - 1, 1] = math.radians(15)
        tip = model(hand_pose=angles_to_hand_pose(ang)).vertices[0, tips[k]]
        assert (tip - flat[2]).norm() > (flat[k] - flat[2]).norm() + 0.005, f


def test_relaxed_mean_pose_is_inside_the_limits(lim):
    mean = torch.as_tensor(load_hand_asset("open").hands_mean, dtype=D)[None]
    assert within_limits(mean, lim, tol_deg=0.5).item()


def test_round_trips(lim):
    ang = _random_inside(64, lim)
    hp = angles_to_hand_pose(ang, lim)
    assert hp.shape == (64, 45)
    torch.testing.assert_close(hand_pose_to_angles(hp, lim), ang, atol=1e-9, rtol=0)
    # and from arbitrary (moderate) axis-angles
    g = torch.Generator().manual_seed(1)
    hp = 0.6 * torch.randn(32, 45, generator=g, dtype=D)
    back = angles_to_hand_pose(hand_pose_to_angles(hp, lim), lim)
    torch.testing.assert_close(back, hp, atol=1e-9, rtol=0)


def test_float32_and_batch_shapes(lim):
    ang = _random_inside(5, lim).float()
    hp = angles_to_hand_pose(ang)
    assert hp.dtype == torch.float32 and hp.shape == (5, 45)
    assert hand_pose_to_angles(hp).shape == (5, 15, 3) and limit_penalty(hp).shape == (5,)
    assert angles_to_hand_pose(ang[:0]).shape == (0, 45)


def test_bad_shapes_raise():
    with pytest.raises(ShapeError):
        hand_pose_to_angles(torch.zeros(2, 44))
    with pytest.raises(ShapeError):
        angles_to_hand_pose(torch.zeros(2, 16, 3))


def test_penalty_zero_inside_positive_outside_and_differentiable(lim):
    inside = angles_to_hand_pose(_random_inside(16, lim), lim)
    assert torch.all(limit_penalty(inside, lim) < 1e-16)
    assert torch.all(within_limits(inside, lim))
    ang = torch.zeros(3, 15, 3, dtype=D)
    ang[0, 0, 0] = math.radians(-60)  # index MCP hyperextended
    ang[1, 4, 0] = math.radians(150)  # middle PIP
    ang[2, 1, 1] = math.radians(30)  # index PIP sideways
    out = angles_to_hand_pose(ang, lim).requires_grad_(True)
    pen = limit_penalty(out, lim)
    assert torch.all(pen > 0.01) and not within_limits(out.detach(), lim).any()
    pen.sum().backward()
    assert torch.isfinite(out.grad).all() and out.grad.abs().sum(1).min() > 0
    # a few gradient steps move the pose back inside
    x = out.detach().clone().requires_grad_(True)
    opt = torch.optim.SGD([x], lr=0.5)
    for _ in range(200):
        opt.zero_grad()
        limit_penalty(x, lim).sum().backward()
        opt.step()
    assert limit_penalty(x.detach(), lim).max() < 1e-4


def test_gradcheck(lim):
    g = torch.Generator().manual_seed(2)
    hp = (0.8 * torch.randn(2, 45, generator=g, dtype=D)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda p: limit_penalty(p, lim), (hp,))
    ang = (0.5 * torch.randn(2, 15, 3, generator=g, dtype=D)).requires_grad_(True)
    assert torch.autograd.gradcheck(lambda a: angles_to_hand_pose(a, lim), (ang,))


def test_clamp_to_limits(lim):
    g = torch.Generator().manual_seed(3)
    hp = 1.2 * torch.randn(20, 45, generator=g, dtype=D)
    c = clamp_to_limits(hp, lim)
    assert within_limits(c, lim, tol_deg=1e-6).all()
    inside = angles_to_hand_pose(_random_inside(8, lim), lim)
    torch.testing.assert_close(clamp_to_limits(inside, lim), inside, atol=1e-9, rtol=0)


def test_left_hand_angles_equal_mirrored_right(lim):
    left = build_joint_limits(load_hand_asset("open", "left"))
    ang = _random_inside(8, lim)
    hp_right = angles_to_hand_pose(ang, lim)
    hp_left = angles_to_hand_pose(ang, left)
    torch.testing.assert_close(hp_left, mirror_axis_angle(hp_right), atol=1e-9, rtol=0)
    torch.testing.assert_close(hand_pose_to_angles(hp_left, left), ang, atol=1e-9, rtol=0)
