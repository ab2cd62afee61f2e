"""Properties of the committed open hand asset (built by tools/build_open_hand.py).

anny is a build-time dependency only: these tests read the committed .npz.
"""
import json
from pathlib import Path

import numpy as np
import pytest

from handmocap.hand import load_hand_asset
from handmocap.hand.assets import bundled_asset_path, find_fingertip_vertices
from handmocap.hand.joints import FINGER_NAMES, MANO_JOINT_NAMES

CHAINS = {"thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6), "ring": (10, 11, 12),
          "pinky": (7, 8, 9)}


@pytest.fixture(scope="module")
def raw():
    with np.load(bundled_asset_path(), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.fixture(scope="module")
def asset():
    return load_hand_asset("open")


def _edges(faces):
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def test_file_is_small_and_has_provenance(raw):
    assert bundled_asset_path().stat().st_size < 3e6
    lic = str(raw["license"])
    assert "CC0" in lic and "Apache-2.0" in lic and "No MANO data" in lic
    assert str(raw["side"]) == "right"
    assert tuple(raw["joint_names"]) == MANO_JOINT_NAMES
    assert tuple(raw["fingertip_names"]) == FINGER_NAMES
    assert raw["joint_frames"].shape == (15, 3, 3)
    info = json.loads(str(raw["build_info"]))
    assert info["anny_version"] == "0.6.2" and info["stats"]["vertices"] == raw["v_template"].shape[0]
    notice = (bundled_asset_path().parent / "NOTICE").read_text()
    for needle in ("anny 0.6.2", "Apache", "CC0", "MANO", "tools/build_open_hand.py"):
        assert needle in notice


def test_mesh_is_one_oriented_surface_with_only_the_wrist_cut(raw, asset):
    F, V = asset.faces, asset.v_template
    e = _edges(F)
    directed = {tuple(x) for x in e.tolist()}
    assert len(directed) == len(e), "an edge is used twice in the same direction"
    boundary = [(a, b) for a, b in e.tolist() if (b, a) not in directed]
    capped = json.loads(str(raw["build_info"]))["stats"]["capped"]
    if capped:  # closed: genus-0 surface
        assert boundary == []
        assert V.shape[0] - len(e) // 2 + len(F) == 2
        vol = np.einsum("ij,ij->i", V[F[:, 0]], np.cross(V[F[:, 1]], V[F[:, 2]])).sum() / 6
        assert vol > 0  # outward normals
    else:  # exactly one boundary loop, at the wrist
        nxt = dict(boundary)
        assert len(nxt) == len(boundary)
        loop, v = [], boundary[0][0]
        while v not in loop:
            loop.append(v)
            v = nxt[v]
        assert len(loop) == len(boundary)
        assert V[loop, 0].min() > asset.J_regressor[0] @ V - 0.05  # near the wrist
    area = np.linalg.norm(np.cross(V[F[:, 1]] - V[F[:, 0]], V[F[:, 2]] - V[F[:, 0]]), axis=1) / 2
    assert area.min() > 1e-9  # no degenerate triangles
    assert len(np.unique(F)) == V.shape[0]  # no unused vertices


def test_fingertips_are_the_farthest_vertices_along_each_finger(asset):
    V = asset.v_template
    J = asset.J_regressor @ V
    np.testing.assert_array_equal(
        find_fingertip_vertices(V, asset.weights, asset.J_regressor, asset.parents), asset.fingertip_ids)
    finger_of = {j: f for f, chain in CHAINS.items() for j in chain}
    dom = asset.weights.argmax(1)
    for f, tip in zip(FINGER_NAMES, asset.fingertip_ids):
        d = J[CHAINS[f][2]] - J[CHAINS[f][0]]
        d /= np.linalg.norm(d)
        mine = np.flatnonzero([finger_of.get(j) == f for j in dom])
        # along the whole finger's direction too (within 2 mm of the farthest vertex)
        assert (V[mine] @ d).max() - V[tip] @ d < 0.002, f


def test_metric_scale_and_axes(asset):
    V = asset.v_template
    J = asset.J_regressor @ V
    tips = V[asset.fingertip_ids]
    assert 0.17 < np.linalg.norm(tips[2] - J[0]) < 0.22  # wrist to middle fingertip, metres
    assert np.all(tips[:, 0] < J[0, 0] - 0.08)  # fingers point -x
    assert tips[0, 2] > tips[4, 2] + 0.05  # thumb towards +z
    assert np.abs(tips[1:, 1]).max() < 0.015  # flat template: fingers in the palm plane
    np.testing.assert_allclose(J[4], 0.0, atol=0.005)  # origin near the middle MCP


def test_shape_space(raw, asset):
    assert asset.shapedirs.shape == (asset.num_vertices, 3, 10)
    evr = raw["explained_variance_ratio"]
    assert np.all(np.diff(evr) <= 0) and evr.sum() > 0.99
    V = asset.v_template
    J = asset.J_regressor @ V
    big = V + 2 * asset.shapedirs[:, :, 0]
    size = lambda v: np.linalg.norm(v[asset.fingertip_ids[2]] - asset.J_regressor[0] @ v)
    assert size(big) > size(V) + 0.01  # beta0 > 0 is a bigger hand
    np.testing.assert_allclose(raw["J"], J, atol=1e-9)
    np.testing.assert_allclose(asset.J_regressor.sum(1), 1.0, atol=1e-6)
    assert asset.J_regressor.min() >= 0


def test_hands_mean_curls_to_the_palm(asset):
    import torch

    from handmocap.hand import HandModel

    relaxed = HandModel(asset, flat_hand_mean=False, dtype=torch.float64)()
    flat = HandModel(asset, dtype=torch.float64)()
    tips = asset.fingertip_ids
    assert torch.all(relaxed.vertices[0, tips, 1] < flat.vertices[0, tips, 1] - 0.005)
