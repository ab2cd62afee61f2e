"""The preview's coarse mesh (`geometry.decimate`): the model's own vertices, the same
silhouette in any pose, never a bridge between parts that are not joined."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handmocap.export.preview import PREVIEW_MAX_FACES, draw_hand
from handmocap.geometry.decimate import cluster_vertices, clustered_faces, decimate_faces
from handmocap.hand import HandModel
from handmocap.hand.poses import sample_hand_pose


def _normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


@pytest.mark.parametrize("side", ["right", "left"])
def test_coarse_hand_keeps_vertices_winding_and_silhouette(side):
    hand = HandModel(side=side)
    rest, faces = hand.v_template.numpy().astype(np.float64), hand.faces.numpy()
    coarse = decimate_faces(rest, faces, PREVIEW_MAX_FACES)
    assert 0.8 * PREVIEW_MAX_FACES <= len(coarse) <= PREVIEW_MAX_FACES < len(faces)
    assert coarse.min() >= 0 and coarse.max() < len(rest)
    assert len(np.unique(np.sort(coarse, axis=1), axis=0)) == len(coarse)  # no triangle twice
    # winding kept: each coarse triangle faces the way the original surface at its vertices does
    vertex_normal = np.zeros_like(rest)
    np.add.at(vertex_normal, faces.ravel(), np.repeat(_normals(rest, faces), 3, axis=0))
    agree = np.einsum("ij,ij->i", _normals(rest, coarse), vertex_normal[coarse].sum(1))
    assert (agree > 0).mean() > 0.97, (agree > 0).mean()  # measured 0.993
    # the same silhouette in random poses and orientations (hand about 180 px tall)
    K = np.array([[600.0, 0, 200], [0, 600, 200], [0, 0, 1]])
    gen = torch.Generator().manual_seed(3)
    ious = []
    for _ in range(12):
        out = hand(global_orient=torch.randn(1, 3, generator=gen), hand_pose=sample_hand_pose(1, seed=gen),
                   betas=torch.zeros(1, 10), transl=torch.tensor([[0.0, 0.0, 0.6]]))
        verts = out.vertices[0].detach().numpy().astype(np.float64)
        masks = []
        for tri in (faces, coarse):
            image = np.zeros((400, 400, 3), np.uint8)
            draw_hand(image, verts, tri, K, None, alpha=1.0)
            masks.append(image.any(-1))
        ious.append((masks[0] & masks[1]).sum() / (masks[0] | masks[1]).sum())
    assert min(ious) > 0.96, ious  # measured 0.977 at the least (right)


def test_parts_not_joined_inside_a_cell_stay_apart():
    # two triangles 1 mm apart, both inside one 1 cm cell: two clusters, not one
    v = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 0, 1], [0, 1, 1]], np.float64) * 1e-3
    f = np.array([[0, 1, 2], [3, 4, 5]])
    rep = cluster_vertices(v, f, cell=0.01)
    assert len(set(rep[:3])) == 1 and len(set(rep[3:])) == 1 and rep[0] != rep[3]
    assert set(rep[:3]) <= {0, 1, 2} and set(rep[3:]) <= {3, 4, 5}  # a member represents its cluster
    assert len(clustered_faces(v, f, cell=0.01)) == 0  # each triangle collapsed to a point
    assert np.array_equal(clustered_faces(v, f, cell=1e-4), f)  # a fine grid keeps everything


def test_small_meshes_are_returned_as_they_are():
    hand = HandModel(side="right")
    faces = hand.faces.numpy()
    assert np.array_equal(decimate_faces(hand.v_template.numpy(), faces, len(faces)), faces)
