"""Named poses and the pose / orientation / shape samplers."""
import numpy as np
import pytest
import torch

from handmocap.errors import InputError
from handmocap.hand import HandModel
from handmocap.hand.limits import FINGER_JOINTS, hand_pose_to_angles, within_limits
from handmocap.hand.poses import (
    NAMED_POSES, named_pose, named_pose_names, sample_angles, sample_betas, sample_global_orient,
    sample_hand_pose)

D = torch.float64
REQUIRED = {"flat", "relaxed", "fist", "point", "pinch", "ok", "thumbs_up", "peace", "rock",
            "three", "grab", "claw", "spread"}
THUMB, INDEX, MIDDLE, RING, PINKY = range(5)  # fingertip order


@pytest.fixture(scope="module")
def model():
    return HandModel(dtype=D)


def _pose(model, name):
    out = model(hand_pose=torch.as_tensor(named_pose(name), dtype=D)[None])
    return out.vertices[0], out.joints[0], out.vertices[0, model.fingertip_ids]


def test_names_shapes_and_limits():
    assert REQUIRED <= set(named_pose_names()) and set(NAMED_POSES) == set(named_pose_names())
    for name in named_pose_names():
        p = named_pose(name)
        assert p.shape == (45,) and np.isfinite(p).all()
        assert within_limits(torch.as_tensor(p)[None], tol_deg=1e-6).item(), name
    np.testing.assert_array_equal(named_pose("flat"), np.zeros(45))
    a = named_pose("fist")
    a[:] = 0  # a copy: the library's pose is unchanged
    assert np.abs(named_pose("fist")).max() > 0.5


def test_unknown_name_is_a_clear_error():
    with pytest.raises(InputError, match="unknown pose 'wave'.*fist"):
        named_pose("wave")


def test_fist_curls_every_fingertip_to_the_palm(model):
    _, joints, flat_tips = _pose(model, "flat")
    _, _, tips = _pose(model, "fist")
    palm = joints[[0, 1, 4, 7, 10]].mean(0)  # wrist + four MCPs (palm plane y ~ 0)
    assert torch.all((tips - palm).norm(dim=1) < (flat_tips - palm).norm(dim=1))
    assert torch.all(tips[:, 1] < palm[1]), tips[:, 1]
    assert torch.all(tips[1:, 0] > joints[[1, 4, 10, 7], 0] - 0.01)  # finger tips folded back


def test_point_extends_the_index_only(model):
    _, j, tips = _pose(model, "point")
    _, j0, tips0 = _pose(model, "flat")
    mcp = {INDEX: 1, MIDDLE: 4, RING: 10, PINKY: 7}
    reach = {k: float((tips[k] - j[m]).norm() / (tips0[k] - j0[m]).norm()) for k, m in mcp.items()}
    assert reach[INDEX] > 0.98
    assert all(reach[k] < 0.6 for k in (MIDDLE, RING, PINKY)), reach


def test_thumbs_up_peace_rock_three(model):
    def extended(name):
        _, j, tips = _pose(model, name)
        _, j0, tips0 = _pose(model, "flat")
        mcp = [13, 1, 4, 10, 7]
        return [bool((tips[k] - j[m]).norm() > 0.9 * (tips0[k] - j0[m]).norm()) for k, m in enumerate(mcp)]

    assert extended("thumbs_up") == [True, False, False, False, False]
    assert extended("peace")[1:] == [True, True, False, False]
    assert extended("rock")[1:] == [True, False, False, True]
    assert extended("three")[1:] == [True, True, True, False]
    assert extended("spread") == [True] * 5


def test_pinch_and_ok_bring_thumb_and_index_together(model):
    for name in ("pinch", "ok"):
        _, _, tips = _pose(model, name)
        assert (tips[THUMB] - tips[INDEX]).norm() < 0.025, name
    _, _, tips = _pose(model, "ok")
    assert (tips[THUMB] - tips[MIDDLE]).norm() > 0.05  # the other fingers stay open


def test_spread_opens_the_gaps(model):
    _, _, tips = _pose(model, "spread")
    _, _, tips0 = _pose(model, "flat")
    for a, b in [(INDEX, MIDDLE), (MIDDLE, RING), (RING, PINKY)]:
        assert (tips[a] - tips[b]).norm() > (tips0[a] - tips0[b]).norm() + 0.005


def test_sampler_shapes_limits_and_reproducibility():
    p = sample_hand_pose(500, seed=0)
    assert p.shape == (500, 45) and p.dtype == torch.float32
    assert within_limits(p.double(), tol_deg=0.01).all()
    torch.testing.assert_close(p, sample_hand_pose(500, seed=0), rtol=0, atol=0)
    assert not torch.allclose(p, sample_hand_pose(500, seed=1))
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    torch.testing.assert_close(sample_hand_pose(4, g1, dtype=D), sample_hand_pose(4, g2, dtype=D))
    assert sample_hand_pose(0, seed=0).shape == (0, 45)
    with pytest.raises(ValueError):
        sample_hand_pose(3, seed=0, named_mix=1.5)


def test_sampler_correlations_and_variety():
    a = sample_angles(4000, seed=0, named_mix=0.0).numpy()
    flex = {f: a[:, [j - 1 for j in FINGER_JOINTS[f]], 0] for f in ("index", "middle", "ring", "pinky")}
    # PIP and DIP move together; neighbouring fingers curl alike
    for f in flex:
        assert np.corrcoef(flex[f][:, 1], flex[f][:, 2])[0, 1] > 0.7
    assert np.corrcoef(flex["middle"][:, 1], flex["ring"][:, 1])[0, 1] > 0.5
    # open and closed hands both occur
    curl = np.mean([flex[f][:, 1] for f in flex], 0)
    assert (curl < np.radians(20)).mean() > 0.15 and (curl > np.radians(80)).mean() > 0.15


def test_named_mix_draws_near_named_poses():
    names = named_pose_names()
    table = torch.as_tensor(np.stack([named_pose(n) for n in names]))
    p = sample_hand_pose(200, seed=3, named_mix=1.0, named_noise_deg=0.0, dtype=D)
    d = torch.cdist(p, table).min(1).values
    assert d.max() < 1e-6


def test_global_orient_and_betas():
    go = sample_global_orient(4000, seed=0, dtype=D)
    assert go.shape == (4000, 3) and go.norm(dim=1).max() <= np.pi + 1e-9
    # uniform rotations: angle density ~ (1 - cos)/pi, mean angle pi/2 + 2/pi
    assert abs(go.norm(dim=1).mean().item() - (np.pi / 2 + 2 / np.pi)) < 0.05
    small = sample_global_orient(100, seed=1, max_angle_deg=30)
    assert small.norm(dim=1).max() <= np.radians(30) + 1e-6
    torch.testing.assert_close(sample_global_orient(5, seed=2), sample_global_orient(5, seed=2))
    b = sample_betas(5000, seed=0)
    assert b.shape == (5000, 10) and b.abs().max() <= 3.0
    assert abs(b.mean().item()) < 0.05 and abs(b.std().item() - 1) < 0.05
    assert sample_betas(3, num_betas=4, seed=0).shape == (3, 4)
