"""HandModel: agreement with smplx.MANO (test peer), gradients, batching, conventions."""
import pickle

import numpy as np
import pytest
import torch

from handmocap import HandModel, ShapeError
from handmocap.hand.joints import FINGERTIP_KEYPOINTS, MCP_KEYPOINTS, WRIST
from handmocap.hand.mirror import mirror_axis_angle, mirror_points


def _random_params(B, dtype, device, seed=0):
    g = torch.Generator().manual_seed(seed)
    go = (torch.rand(B, 3, generator=g) - 0.5) * 4
    hp = torch.randn(B, 45, generator=g) * 0.4
    be = torch.randn(B, 10, generator=g)
    tr = torch.randn(B, 3, generator=g)
    return [t.to(device=device, dtype=dtype) for t in (go, hp, be, tr)]


@pytest.fixture(scope="module")
def smplx_dir(tmp_path_factory):
    """The bundled asset as a MANO pickle, the layout smplx reads."""
    d = tmp_path_factory.mktemp("mano")
    data = dict(np.load(HandModel().asset.source))
    data = {k: (str(v) if v.dtype.kind == "U" and v.ndim == 0 else v) for k, v in data.items()}
    with open(d / "MANO_RIGHT.pkl", "wb") as fh:
        pickle.dump(data, fh, protocol=2)
    return d


@pytest.mark.parametrize("flat", [True, False])
def test_matches_smplx_mano(smplx_dir, flat):
    smplx = pytest.importorskip("smplx")
    ours = HandModel(flat_hand_mean=flat, dtype=torch.float64)
    peer = smplx.MANO(str(smplx_dir), use_pca=False, flat_hand_mean=flat, is_rhand=True, dtype=torch.float64)
    go, hp, be, tr = _random_params(64, torch.float64, "cpu")
    a = ours(global_orient=go, hand_pose=hp, betas=be, transl=tr)
    b = peer(global_orient=go, hand_pose=hp, betas=be, transl=tr)
    assert (a.vertices - b.vertices).abs().max() < 1e-5
    assert (a.joints - b.joints[:, :16]).abs().max() < 1e-5


def test_batch_device_dtype(device, dtype):
    model = HandModel(dtype=dtype).to(device)
    for B in (1, 7):
        out = model(*_random_params(B, dtype, device))
        assert out.vertices.shape == (B, model.asset.num_vertices, 3)
        assert out.joints.shape == (B, 16, 3) and out.keypoints.shape == (B, 21, 3)
        assert out.vertices.dtype == dtype and out.vertices.device.type == device.type
    single = model(*[p[:1] for p in _random_params(7, dtype, device)])
    batch = model(*_random_params(7, dtype, device))
    torch.testing.assert_close(single.vertices[0], batch.vertices[0])


def test_gradients_reach_pose_and_shape():
    model = HandModel(dtype=torch.float64)
    go, hp, be, tr = _random_params(3, torch.float64, "cpu")
    for p in (go, hp, be, tr):
        p.requires_grad_(True)
    model(global_orient=go, hand_pose=hp, betas=be, transl=tr).keypoints.square().sum().backward()
    for p in (go, hp, be, tr):
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0


def test_gradcheck_at_and_away_from_zero_pose():
    model = HandModel(dtype=torch.float64)
    hp = torch.zeros(1, 45, dtype=torch.float64, requires_grad=True)
    f = lambda h: model(hand_pose=h).keypoints  # noqa: E731
    assert torch.autograd.gradcheck(f, (hp,), eps=1e-6, atol=1e-5)
    hp2 = (torch.randn(1, 45, dtype=torch.float64) * 0.3).requires_grad_(True)
    assert torch.autograd.gradcheck(f, (hp2,), eps=1e-6, atol=1e-5)


def test_left_is_mirror_of_right():
    right, left = HandModel(dtype=torch.float64), HandModel(side="left", dtype=torch.float64)
    assert left.side == "left"
    go, hp, be, tr = _random_params(5, torch.float64, "cpu")
    r = right(global_orient=go, hand_pose=hp, betas=be, transl=tr)
    lo = left(global_orient=mirror_axis_angle(go), hand_pose=mirror_axis_angle(hp), betas=be,
              transl=mirror_points(tr))
    torch.testing.assert_close(lo.vertices, mirror_points(r.vertices), atol=1e-9, rtol=0)
    torch.testing.assert_close(lo.keypoints, mirror_points(r.keypoints), atol=1e-9, rtol=0)
    # winding flipped, so outward normals stay outward on the mirrored mesh
    assert torch.equal(left.faces, right.faces.flip(1))


@pytest.mark.parametrize("side", ["right", "left"])
def test_keypoint_order_and_handedness_of_flat_template(side):
    model = HandModel(side=side, dtype=torch.float64)
    kp = model().keypoints[0].numpy()
    wrist = kp[WRIST]
    tips = np.linalg.norm(kp[list(FINGERTIP_KEYPOINTS)] - wrist, axis=1)
    mcps = np.linalg.norm(kp[[2] + list(MCP_KEYPOINTS)] - wrist, axis=1)  # thumb MCP + 4 MCPs
    assert (tips > mcps).all()
    # each finger's chain moves monotonically away from the wrist
    for base in (1, 5, 9, 13, 17):
        d = np.linalg.norm(kp[base:base + 4] - wrist, axis=1)
        assert (np.diff(d) > 0).all(), (base, d)
    # thumb is on the index side
    assert np.linalg.norm(kp[4] - kp[5]) < np.linalg.norm(kp[4] - kp[17])
    # chirality: the palm is the side the relaxed (mean) pose curls the fingertips to;
    # for a right hand (index-wrist) x (pinky-wrist) points to the palm, for a left hand away
    relaxed = HandModel(side=side, flat_hand_mean=False, dtype=torch.float64)().keypoints[0].numpy()
    finger_dir = kp[9] - wrist
    curl = (relaxed - kp)[[8, 12, 16, 20]].mean(0)
    palm = curl - (curl @ finger_dir) / (finger_dir @ finger_dir) * finger_dir
    normal = np.cross(kp[5] - wrist, kp[17] - wrist)
    assert np.sign(normal @ palm) == (1 if side == "right" else -1)


def test_bad_shapes_are_named():
    model = HandModel()
    with pytest.raises(ShapeError, match="hand_pose"):
        model(hand_pose=torch.zeros(2, 44))
    with pytest.raises(ShapeError, match=r"hand_pose: expected shape \(2, 45\)"):
        model(global_orient=torch.zeros(2, 3), hand_pose=torch.zeros(3, 45))
    with pytest.raises(ShapeError, match="global_orient"):
        model(global_orient=torch.zeros(2, 4))
    with pytest.raises(ShapeError, match="betas"):
        model(betas=torch.zeros(1, 11))


def test_pca_needs_components_and_maps_linearly():
    model = HandModel(dtype=torch.float64)
    coeffs = torch.randn(2, 10, dtype=torch.float64)
    a = model(hand_pose=coeffs, use_pca=True)
    b = model(hand_pose=coeffs @ model.hands_components[:10])
    torch.testing.assert_close(a.vertices, b.vertices)
