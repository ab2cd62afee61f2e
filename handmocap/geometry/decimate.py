"""Fewer triangles over the same vertices: vertex clustering that keeps the mesh's own vertices.

A drawn preview does not need every triangle of the hand: at 540 lines a hand is 100-250
pixels tall, and painting 3,370 triangles a frame cost more than decoding the video. The
coarse mesh here reuses a subset of the original vertex ids, so it follows any pose through
the same skinning (index the posed vertices with its faces) and nothing is stored per model.

Vertices are clustered on a grid over the rest pose, but only along mesh edges: two vertices
share a cluster when they lie in one grid cell *and* are joined by edges inside it, so
neighbouring fingers that touch in one cell never merge. Each cluster is represented by its
vertex nearest to its centroid; triangles whose corners fall into fewer than three clusters
vanish. Letters: V vertices, F triangles.
"""
from __future__ import annotations

import numpy as np


def _find(parent: np.ndarray, i: np.ndarray) -> np.ndarray:
    """Roots of the union-find forest `parent` for the ids `i` (path halving, vectorised)."""
    while True:
        up = parent[i]
        if np.array_equal(up, i):
            return i
        parent[i] = parent[up]
        i = parent[i]


def cluster_vertices(vertices: np.ndarray, faces: np.ndarray, cell: float) -> np.ndarray:
    """(V,) cluster representative of every vertex: the id of a vertex of its cluster.

    vertices: (V, 3) rest pose (any unit); faces: (F, 3) ids; cell: grid size, same unit."""
    V = len(vertices)
    key = np.floor(np.asarray(vertices, np.float64) / cell).astype(np.int64)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = edges[np.all(key[edges[:, 0]] == key[edges[:, 1]], axis=1)]  # only edges inside one cell
    parent = np.arange(V)
    while len(edges):  # union the roots of each edge's ends until every edge lies in one tree
        a, b = _find(parent, edges[:, 0]), _find(parent, edges[:, 1])
        split = a != b
        if not split.any():
            break
        a, b = a[split], b[split]
        parent[np.maximum(a, b)] = np.minimum(a, b)
        edges = edges[split]
    root = _find(parent, np.arange(V))
    # representative: the member nearest to the cluster's centroid
    ids, inverse = np.unique(root, return_inverse=True)
    count = np.bincount(inverse, minlength=len(ids)).astype(np.float64)
    centroid = np.stack([np.bincount(inverse, weights=vertices[:, k], minlength=len(ids)) for k in range(3)], 1)
    centroid /= count[:, None]
    dist = np.linalg.norm(vertices - centroid[inverse], axis=1)
    order = np.lexsort((dist, inverse))  # by cluster, nearest first
    first = np.ones(V, bool)
    first[1:] = inverse[order][1:] != inverse[order][:-1]
    rep_of_cluster = np.empty(len(ids), np.int64)
    rep_of_cluster[inverse[order][first]] = order[first]
    return rep_of_cluster[inverse]


def clustered_faces(vertices: np.ndarray, faces: np.ndarray, cell: float) -> np.ndarray:
    """(F', 3) triangles over the representatives of `cluster_vertices`, winding kept,
    collapsed and repeated triangles dropped."""
    rep = cluster_vertices(vertices, faces, cell)
    tri = rep[np.asarray(faces, np.int64)]
    keep = (tri[:, 0] != tri[:, 1]) & (tri[:, 1] != tri[:, 2]) & (tri[:, 2] != tri[:, 0])
    tri = tri[keep]
    # the same triangle twice (either winding) is drawn once
    _, first = np.unique(np.sort(tri, axis=1), axis=0, return_index=True)
    return tri[np.sort(first)]


def decimate_faces(vertices: np.ndarray, faces: np.ndarray, max_faces: int) -> np.ndarray:
    """(F', 3) with F' <= max_faces (when F > max_faces): `clustered_faces` with the finest
    grid that gives at most max_faces triangles (bisection on the cell size).

    vertices: (V, 3) rest pose; faces: (F, 3). Returns `faces` itself when F <= max_faces."""
    faces = np.asarray(faces, np.int64)
    if len(faces) <= max_faces:
        return faces
    vertices = np.asarray(vertices, np.float64)
    lo, hi = 0.0, float(np.ptp(vertices, axis=0).max())  # hi: one cell, few triangles
    best = clustered_faces(vertices, faces, hi)
    for _ in range(24):
        mid = 0.5 * (lo + hi)
        tri = clustered_faces(vertices, faces, mid)
        if len(tri) <= max_faces:
            hi, best = mid, tri
        else:
            lo = mid
    return best


__all__ = ["cluster_vertices", "clustered_faces", "decimate_faces"]
