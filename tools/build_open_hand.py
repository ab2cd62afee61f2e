#!/usr/bin/env python
"""Build the bundled open hand model (`handmocap/hand/data/open_hand.npz`) from `anny`.

Source: anny 0.6.2 (NAVER, code Apache-2.0); its mesh, rig, skinning weights and shape
targets are MakeHuman/MPFB2 assets (CC0 1.0). No MANO data is used: only MANO's
conventions (joint order, kinematic tree, axes, file keys).

What the build does
1. Full-body anny (rig "anny", topology "anny", all phenotypes + right-hand/forearm local
   changes). Faces skinned mainly to right-hand or forearm bones are kept, then clipped by
   a plane perpendicular to the forearm axis, `--stub-len` proximal to the wrist joint.
   Clipping makes new vertices on cut edges, so the stub ends in one clean planar loop;
   the loop is capped with a vertex fan (`--no-cap` leaves it open). Every output vertex
   is a fixed linear combination of anny vertices (a sparse matrix), so template, shape
   targets and weights are carried through the same matrix.
2. Skin weights of the 20 anny hand bones are collapsed to MANO's 16 joints (wrist,
   metacarpals and forearm go into joint 0).
3. `--n-samples` adult phenotypes are sampled; each rest mesh is put in the canonical frame
   (fingers -x, palm -y, thumb +z, metres), and its relaxed fingers and thumb are
   "flattened" into the palm plane by rotating each joint with LBS.
4. Mean -> v_template; PCA (held-out split) -> shapedirs scaled to beta ~ N(0, 1);
   NNLS convex vertex weights -> J_regressor; the mean un-flattening rotation -> hands_mean.
5. Extras: fingertip_vertex_ids (thumb, index, middle, ring, pinky), joint_names, side,
   joint_frames (15, 3, 3): per finger joint the columns (flexion axis, abduction axis,
   twist axis) taken from the MakeHuman rig's bone frames (bone roll; x = flexion) after
   flattening, orthonormalised about the template bone; provenance and licence strings.

Usage (anny is a build-time dependency only; its first run takes ~1 min and ~1.5 GB RAM
and fills a cache):
    pip install anny==0.6.2 torch==2.13.0
    ANNY_CACHE_DIR=~/.cache/anny WARP_CACHE_PATH=~/.cache/warp \
        python tools/build_open_hand.py [--out handmocap/hand/data/open_hand.npz]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import scipy.sparse.csgraph as csg
import torch
from scipy.optimize import nnls
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from handmocap.hand.assets import find_fingertip_vertices  # noqa: E402
from handmocap.hand.joints import FINGER_NAMES, MANO_JOINT_NAMES, MANO_PARENTS  # noqa: E402

ANNY_VERSION = "0.6.2"
# MakeHuman numbering: finger1 thumb, finger2 index, finger3 middle, finger4 ring,
# finger5 pinky. finger1-1 is the thumb metacarpal: its head is the CMC joint.
BONE_OF_JOINT = {
    1: "finger2-1.R", 2: "finger2-2.R", 3: "finger2-3.R",
    4: "finger3-1.R", 5: "finger3-2.R", 6: "finger3-3.R",
    7: "finger5-1.R", 8: "finger5-2.R", 9: "finger5-3.R",
    10: "finger4-1.R", 11: "finger4-2.R", 12: "finger4-3.R",
    13: "finger1-1.R", 14: "finger1-2.R", 15: "finger1-3.R",
}
CHAINS = {"thumb": (13, 14, 15), "index": (1, 2, 3), "middle": (4, 5, 6),
          "ring": (10, 11, 12), "pinky": (7, 8, 9)}  # FINGER_NAMES order
HAND_BONES = ["wrist.R"] + [f"metacarpal{i}.R" for i in range(1, 5)] + list(BONE_OF_JOINT.values())
FOREARM_BONES = ["lowerarm01.R", "lowerarm02.R"]
# local changes sampled for the shape space: half-width of a uniform range on [-1, 1]
LOCAL_CHANGES = {
    "r-hand-scale-incr": 0.25,  # +-1 changes palm length by +31 %/-19 %: keep it small
    "r-hand-fingers-length-incr": 0.5,
    "r-hand-fingers-diameter-incr": 1.0,
    "r-hand-fingers-distance-incr": 1.0,
    "r-hand-trans-out": 1.0,  # nearly rigid: mostly removed by the wrist alignment
    "measure-wrist-circ-incr": 1.0,
    "r-lowerarm-fat-incr": 1.0,  # only the forearm stub
    "r-lowerarm-muscle-incr": 1.0,
}
LICENSE = (
    f"Derived from anny {ANNY_VERSION} (https://pypi.org/project/anny/, NAVER Corp., code "
    "Apache-2.0); mesh, rig, skinning weights and shape targets are MakeHuman/MPFB2 assets "
    "shipped in anny/data/mpfb2 under CC0 1.0. No MANO data used. posedirs are zero and "
    "hands_components is the identity. Built by tools/build_open_hand.py."
)


# ----------------------------------------------------------------------------- geometry
def rotation_between(d: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Smallest rotation matrix taking unit vector d onto unit vector t."""
    axis = np.cross(d, t)
    s = np.linalg.norm(axis)
    if s < 1e-12:
        return np.eye(3)
    return Rotation.from_rotvec(axis / s * np.arctan2(s, float(d @ t))).as_matrix()


def canonical_frame(heads: dict) -> tuple[np.ndarray, np.ndarray]:
    """(R, origin) with canonical = (p - origin) @ R: x = wrist -> middle MCP reversed
    (fingers -x), z = pinky MCP -> index MCP made orthogonal (thumb side), y = z x x
    (dorsal for a right hand, so the palm faces -y)."""
    w = heads["wrist.R"]
    x = w - heads["finger3-1.R"]
    x /= np.linalg.norm(x)
    z = heads["finger2-1.R"] - heads["finger5-1.R"]
    z -= (z @ x) * x
    z /= np.linalg.norm(z)
    return np.stack([x, np.cross(z, x), z], axis=1), w


def plane_clip(verts: np.ndarray, faces: np.ndarray, normal: np.ndarray, offset: float):
    """Keep the part of a triangle mesh where `verts @ normal >= offset`.

    Returns (faces_out, rows) where rows[i] = (a, b, t): output vertex i is
    (1 - t) * verts[a] + t * verts[b] (t = 0 for kept input vertices). Cut edges share
    their new vertex, so the cut is a closed loop wherever the input was manifold.
    """
    d = verts @ normal - offset
    inside = d >= 0
    rows: list[tuple[int, int, float]] = []
    index: dict = {}

    def vid(a: int, b: int = -1) -> int:
        key = (a,) if b < 0 else (min(a, b), max(a, b))
        if key not in index:
            if b < 0:
                rows.append((a, a, 0.0))
            else:
                t = d[a] / (d[a] - d[b])
                rows.append((a, b, float(t)))
            index[key] = len(rows) - 1
        return index[key]

    out = []
    for tri in faces:
        ins = inside[tri]
        n_in = int(ins.sum())
        if n_in == 0:
            continue
        if n_in == 3:
            out.append([vid(v) for v in tri])
            continue
        k = int(np.flatnonzero(ins if n_in == 1 else ~ins)[0])  # the odd vertex, in order
        a, b, c = tri[k], tri[(k + 1) % 3], tri[(k + 2) % 3]
        if n_in == 1:  # a inside: one triangle
            out.append([vid(a), vid(a, b), vid(a, c)])
        else:  # a outside: a quad (ab, b, c, ca) as two triangles, winding kept
            ab, ca = vid(a, b), vid(a, c)
            out.append([ab, vid(b), vid(c)])
            out.append([ab, vid(c), ca])
    return np.asarray(out, dtype=np.int64), rows


def edges_of(faces: np.ndarray) -> np.ndarray:
    """(3F, 2) directed edges of the triangles."""
    return np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])


def boundary_loops(faces: np.ndarray) -> list[list[int]]:
    """Boundary edges chained into loops (each loop follows the faces' winding)."""
    e = edges_of(faces)
    key = {tuple(x) for x in e.tolist()}
    nxt = {}
    for a, b in e.tolist():
        if (b, a) not in key:
            if a in nxt:
                raise RuntimeError(f"boundary vertex {a} is not manifold")
            nxt[a] = b
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops


def largest_component(faces: np.ndarray, n: int) -> np.ndarray:
    """Faces of the largest edge-connected component."""
    e = edges_of(faces)
    adj = sp.coo_matrix((np.ones(len(e)), (e[:, 0], e[:, 1])), shape=(n, n))
    _, lab = csg.connected_components(adj, directed=False)
    flab = lab[faces[:, 0]]
    return faces[flab == np.bincount(flab).argmax()]


# ----------------------------------------------------------------------------- the cut
def cut_hand_region(V_ref, H_ref, F_all, W_all, bidx, stub_len, cap):
    """Select the right hand + forearm stub with a planar cut.

    Returns (M, faces): M (V_out, n_anny) sparse interpolation matrix, faces (F, 3).
    """
    dom = W_all.argmax(1)
    region = np.isin(dom, [bidx[b] for b in HAND_BONES + FOREARM_BONES])
    faces = F_all[region[F_all].all(1)]
    wrist = H_ref[bidx["wrist.R"]]
    axis = wrist - H_ref[bidx["lowerarm02.R"]]
    axis /= np.linalg.norm(axis)
    # Slide the plane (by at most 1.5 mm) until no vertex lies within 0.5 mm of it: cut
    # points then sit well inside their edges and no sliver triangle is made.
    used = np.unique(faces)
    s = (V_ref[used] - wrist) @ axis
    offsets = sorted(np.linspace(-stub_len - 1.5e-3, -stub_len + 1.5e-3, 61), key=lambda o: abs(o + stub_len))
    clear = [o for o in offsets if np.abs(s - o).min() >= 5e-4]
    best = clear[0] if clear else max(offsets, key=lambda o: np.abs(s - o).min())
    fc, rows = plane_clip(V_ref, faces, axis, float(wrist @ axis + best))
    fc = largest_component(fc, len(rows))
    keep = np.unique(fc)
    remap = -np.ones(len(rows), dtype=np.int64)
    remap[keep] = np.arange(len(keep))
    faces = remap[fc]
    rows = [rows[i] for i in keep]
    loops = boundary_loops(faces)
    if len(loops) != 1:
        raise RuntimeError(f"the wrist cut left {len(loops)} boundary loops, expected 1")
    r = np.arange(len(rows))
    a = np.array([x[0] for x in rows])
    b = np.array([x[1] for x in rows])
    t = np.array([x[2] for x in rows])
    M = sp.coo_matrix((np.concatenate([1 - t, t]), (np.concatenate([r, r]), np.concatenate([a, b]))),
                      shape=(len(rows), F_all.max() + 1)).tocsr()
    if cap:
        # fan from the loop's centroid; each boundary edge (p -> q) gets the triangle
        # (q, p, centre) so the cap's winding continues the surface's
        loop = loops[0]
        centre = sp.csr_matrix(M[loop].mean(0))
        c = M.shape[0]
        M = sp.vstack([M, centre]).tocsr()
        fan = np.array([[loop[(i + 1) % len(loop)], loop[i], c] for i in range(len(loop))])
        faces = np.concatenate([faces, fan])
    print(f"[cut] plane {-best * 1000:.2f} mm proximal to the wrist joint, loop of "
          f"{len(loops[0])} vertices, {'capped' if cap else 'open'}: V={M.shape[0]} F={len(faces)}")
    return M, faces, -best


# ----------------------------------------------------------------------------- per shape
def flatten_shape(V, H, O, bidx, W16, tip_ids):
    """Canonical frame + flattened fingers for one anny rest shape.

    Args: V (V_out, 3) rest vertices, H (n_bones, 3) bone heads, O (n_bones, 3, 3) bone
    rest orientations (columns = local x, y, z; y along the bone, x the flexion axis).
    Returns flat vertices, joints (16, 3), un-flattening axis-angles (16, 3),
    curled vertices, flattened bone frames (16, 3, 3), all canonical.
    """
    heads = {b: H[i] for b, i in bidx.items()}
    R, o = canonical_frame(heads)
    Vc = (V - o) @ R
    J = np.zeros((16, 3))
    frames = np.tile(np.eye(3), (16, 1, 1))
    for j, b in BONE_OF_JOINT.items():
        J[j] = (heads[b] - o) @ R
        frames[j] = R.T @ O[bidx[b]]
    tips = Vc[tip_ids].copy()
    G = np.tile(np.eye(4), (16, 1, 1))
    aa = np.zeros((16, 3))
    dorsal = np.array([0.0, 1.0, 0.0])
    for f, chain in enumerate(CHAINS.values()):
        for k, j in enumerate(chain):
            d = (J[chain[k + 1]] if k < 2 else tips[f]) - J[j]
            d /= np.linalg.norm(d)
            t = d - (d @ dorsal) * dorsal  # drop the part out of the palm plane
            Q = rotation_between(d, t / np.linalg.norm(t))
            T = np.eye(4)
            T[:3, :3], T[:3, 3] = Q, J[j] - Q @ J[j]
            for jj in chain[k:]:
                G[jj] = T @ G[jj]
            for jj in chain[k + 1:]:
                J[jj] = Q @ (J[jj] - J[j]) + J[j]
            tips[f] = Q @ (tips[f] - J[j]) + J[j]
            aa[j] = Rotation.from_matrix(Q.T).as_rotvec()  # local rotation that re-curls
    A = np.einsum("vj,jab->vab", W16, G)
    Vf = np.einsum("vab,vb->va", A[:, :3, :3], Vc) + A[:, :3, 3]
    frames = np.einsum("jab,jbc->jac", G[:, :3, :3], frames)
    return Vf, J, aa, Vc, frames


def anatomical_frames(rig_frames, joints, v_template, tip_ids):
    """(15, 3, 3) columns (flexion, abduction, twist) per finger joint (MANO joints 1..15).

    twist = the template bone (joint -> child joint, or -> fingertip vertex); flexion = the
    rig's bone x axis made orthogonal to it; abduction = twist x flexion (dorsal for the
    fingers). Positive rotation about the flexion axis curls the bone towards the palm.
    """
    out = np.zeros((15, 3, 3))
    for f, chain in enumerate(CHAINS.values()):
        for k, j in enumerate(chain):
            end = joints[chain[k + 1]] if k < 2 else v_template[tip_ids[f]]
            tw = end - joints[j]
            tw /= np.linalg.norm(tw)
            fx = rig_frames[j][:, 0] - (rig_frames[j][:, 0] @ tw) * tw
            fx /= np.linalg.norm(fx)
            out[j - 1] = np.stack([fx, np.cross(tw, fx), tw], axis=1)
    return out


def regress_joints(V_tr, J_tr, v_template, k):
    """(16, V) sparse convex weights: J ~ J_regressor @ V over the training shapes."""
    J_template = J_tr.mean(0)
    reg = np.zeros((16, v_template.shape[0]))
    lam = 10.0  # soft sum-to-one constraint
    for j in range(16):
        cand = np.argsort(np.linalg.norm(v_template - J_template[j], axis=1))[:k]
        A = V_tr[:, cand, :].transpose(0, 2, 1).reshape(-1, k)
        b = J_tr[:, j, :].reshape(-1)
        w, _ = nnls(np.vstack([A, lam * np.ones((1, k))]), np.concatenate([b, [lam]]), maxiter=5000)
        reg[j, cand] = w / w.sum()
    return reg


def relax_check(Vf, AA, Vcurl, J_regressor, W16):
    """Re-curl flat shapes with their own un-flattening poses by LBS (mm errors)."""
    from handmocap.geometry.lbs import lbs

    n, nV = Vf.shape[:2]
    pose = torch.as_tensor(AA)
    pose[:, 0] = 0
    errs = []
    for i in range(n):
        v, _ = lbs(torch.zeros(1, 1, dtype=torch.float64), pose[i:i + 1], torch.as_tensor(Vf[i]),
                   torch.zeros(nV, 3, 1, dtype=torch.float64), None, torch.as_tensor(J_regressor),
                   tuple(MANO_PARENTS), torch.as_tensor(W16))
        errs.append(np.linalg.norm(v[0].numpy() - Vcurl[i], axis=1) * 1000)
    return np.stack(errs)


# ----------------------------------------------------------------------------- main
def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1]
                                         / "handmocap/hand/data/open_hand.npz"))
    ap.add_argument("--n-samples", type=int, default=1200)
    ap.add_argument("--n-betas", type=int, default=10)
    ap.add_argument("--stub-len", type=float, default=0.02, help="forearm kept proximal to the wrist joint (m)")
    ap.add_argument("--no-cap", action="store_true", help="leave the wrist cut open")
    ap.add_argument("--age-range", type=float, nargs=2, default=[16.0, 80.0])
    ap.add_argument("--template-age", type=float, default=30.0, help="age of the shape used to cut")
    ap.add_argument("--jreg-k", type=int, default=40, help="candidate vertices per joint")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    t0 = time.time()
    import anny
    from anny.shape_distribution import SimpleShapeDistribution

    if anny.__version__ != ANNY_VERSION:
        print(f"[warn] anny {anny.__version__} installed, the asset was designed on {ANNY_VERSION}")
    model = anny.Anny(rig="anny", topology="anny", local_changes=list(LOCAL_CHANGES),
                      phenotypes="all", skinning_method="lbs")
    labels = list(model.bone_labels)
    bidx = {b: i for i, b in enumerate(labels)}
    W_all = model.dense_vertex_bone_weights.double().numpy()
    F_all = model.faces.numpy().astype(np.int64)
    dist = SimpleShapeDistribution(model)
    print(f"[anny] {anny.__version__} ready in {time.time() - t0:.0f}s: V={W_all.shape[0]} F={len(F_all)}")

    def rest_states(phen, lc, M):
        """Rest vertices (B, V_out, 3) through M, bone heads and bone frames."""
        _, ph, lcp, fa = model.get_tensor_inputs(None, phen, lc, None)
        coeffs = model._get_phenotype_blendshape_coefficients(ph, lcp, fa)
        rest = model.get_rest_model(coeffs)
        cols = np.unique(M.indices)
        Ms = M[:, cols]
        V = rest["rest_vertices"][:, cols].double().numpy()
        V = np.stack([Ms @ v for v in V])
        P = rest["rest_bone_poses"].double().numpy()
        return V, rest["rest_bone_heads"].double().numpy(), P[:, :, :3, :3]

    age = float(dist.morphological_age_mapping.morphological_to_anny_age(
        torch.tensor([args.template_age], dtype=model.dtype))[0])
    ident = sp.identity(W_all.shape[0], format="csr")
    V_ref, H_ref, O_ref = (x[0] for x in rest_states({"age": age}, {}, ident))

    # 1. region and cut
    M, faces, stub = cut_hand_region(V_ref, H_ref, F_all, W_all, bidx, args.stub_len, not args.no_cap)
    nV = M.shape[0]

    # 2. weights collapsed to 16 joints
    Wr = M @ W_all
    W16 = np.zeros((nV, 16))
    for j, b in BONE_OF_JOINT.items():
        W16[:, j] = Wr[:, bidx[b]]
    W16[:, 0] = Wr.sum(1) - W16[:, 1:].sum(1)
    W16[W16 < 1e-6] = 0.0
    W16 /= W16.sum(1, keepdims=True)

    # preliminary tips (for flattening): vertex mainly skinned to the distal bone that lies
    # farthest along (distal bone head -> centroid of its vertices), reference shape
    Vr = M @ V_ref
    dom = Wr.argmax(1)
    pre_tips = []
    for name in FINGER_NAMES:
        b = bidx[BONE_OF_JOINT[CHAINS[name][2]]]
        cand = np.flatnonzero(dom == b)
        d = Vr[cand].mean(0) - H_ref[b]
        pre_tips.append(int(cand[np.argmax((Vr[cand] - H_ref[b]) @ d)]))

    # 3. sampled shapes
    N = args.n_samples
    dist.morphological_age_distribution = torch.distributions.Uniform(
        torch.tensor(args.age_range[0], dtype=model.dtype), torch.tensor(args.age_range[1], dtype=model.dtype))
    _, phen = dist.sample(N)
    lc = {k: torch.as_tensor(rng.uniform(-r, r, N), dtype=model.dtype) for k, r in LOCAL_CHANGES.items()}
    Vf, Jf, AA, Vcurl = [], [], [], []
    for a in range(0, N, 200):
        sl = slice(a, min(N, a + 200))
        Vs, Hs, Os = rest_states({k: x[sl] for k, x in phen.items()}, {k: x[sl] for k, x in lc.items()}, M)
        for v, h, o in zip(Vs, Hs, Os):
            vf, j, aa, vc, _ = flatten_shape(v, h, o, bidx, W16, pre_tips)
            Vf.append(vf), Jf.append(j), AA.append(aa), Vcurl.append(vc)
    Vf, Jf, AA, Vcurl = map(np.stack, (Vf, Jf, AA, Vcurl))
    shift = Jf[:, 4].mean(0)  # origin: mean middle MCP, as MANO's is near it
    Vf -= shift
    Vcurl -= shift
    Jf -= shift
    print(f"[samples] {N} shapes flattened, t={time.time() - t0:.0f}s")

    # 4. PCA on a train split, evaluation on the held-out rest
    perm = rng.permutation(N)
    te, tr = perm[: N // 5], perm[N // 5:]
    v_template = Vf[tr].mean(0)
    X = (Vf[tr] - v_template).reshape(len(tr), -1)
    _, S, VT = np.linalg.svd(X, full_matrices=False)
    nb = args.n_betas
    radial = (v_template - v_template.mean(0)).reshape(-1)
    VT[0] *= np.sign(VT[0] @ radial)  # beta0 > 0: bigger hand
    for k in range(1, nb):
        VT[k] *= np.sign(VT[k][np.argmax(np.abs(VT[k]))])
    var = S ** 2 / (len(tr) - 1)
    evr = var / var.sum()
    std = np.sqrt(var[:nb])
    shapedirs = (VT[:nb].T * std).reshape(nV, 3, nb)
    Xte = (Vf[te] - v_template).reshape(len(te), -1)
    rec_err = np.linalg.norm((Xte - Xte @ VT[:nb].T @ VT[:nb]).reshape(len(te), nV, 3), axis=2) * 1000
    base_err = np.linalg.norm(Xte.reshape(len(te), nV, 3), axis=2) * 1000

    J_regressor = regress_joints(Vf[tr], Jf[tr], v_template, args.jreg_k)
    jerr = np.linalg.norm(np.einsum("jv,nvi->nji", J_regressor, Vf[te]) - Jf[te], axis=2) * 1000
    joints = J_regressor @ v_template
    hands_mean = AA[tr].mean(0)[1:].reshape(-1)
    recurl = relax_check(Vf[te[:50]], AA[te[:50]], Vcurl[te[:50]], J_regressor, W16)

    # 5. fingertips (the loader's geometric rule, so both agree) and joint frames
    tips = find_fingertip_vertices(v_template, W16, J_regressor, tuple(MANO_PARENTS))
    V_ref_o, H_ref_o, O_ref_o = (x[0] for x in rest_states({"age": age}, {}, M))
    *_, rig_frames = flatten_shape(V_ref_o, H_ref_o, O_ref_o, bidx, W16, pre_tips)
    frames = anatomical_frames(rig_frames, joints, v_template, tips)

    kintree = np.array([[4294967295] + list(MANO_PARENTS[1:]), list(range(16))], dtype=np.uint32)
    Mc = M.tocoo()
    stats = dict(
        vertices=nV, faces=len(faces), capped=not args.no_cap, stub_len_m=round(stub, 5),
        explained_variance_ratio=np.round(evr[:nb], 5).tolist(),
        explained_variance_cum=round(float(evr[:nb].sum()), 5),
        heldout_vertex_error_mm=dict(template=round(float(base_err.mean()), 3),
                                     pca_mean=round(float(rec_err.mean()), 3),
                                     pca_max=round(float(rec_err.max()), 3)),
        heldout_joint_error_mm=dict(mean=round(float(jerr.mean()), 3), max=round(float(jerr.max()), 3)),
        recurl_error_mm=dict(mean=round(float(recurl.mean()), 4), max=round(float(recurl.max()), 4)),
        wrist_to_middle_tip_m=round(float(np.linalg.norm(v_template[tips[2]] - joints[0])), 4),
    )
    build_info = dict(
        anny_version=anny.__version__, n_samples=N, age_range=args.age_range,
        template_age=args.template_age, local_changes=LOCAL_CHANGES, seed=args.seed,
        bone_map={MANO_JOINT_NAMES[j]: b for j, b in BONE_OF_JOINT.items()},
        collapsed_into_wrist=sorted(set(labels[i] for i in np.flatnonzero((Wr > 1e-6).any(0)))
                                    - set(BONE_OF_JOINT.values())),
        stats=stats)
    data = dict(
        v_template=v_template, shapedirs=shapedirs,
        posedirs=np.zeros((nV, 3, 135), dtype=np.float32),
        J_regressor=J_regressor, weights=W16, kintree_table=kintree, f=faces.astype(np.int32),
        hands_components=np.eye(45), hands_mean=hands_mean, hands_coeffs=np.zeros((1, 45)),
        J=joints, bs_style=np.array("lbs"), bs_type=np.array("lrotmin"),
        fingertip_vertex_ids=tips.astype(np.int64), fingertip_names=np.array(FINGER_NAMES),
        joint_names=np.array(MANO_JOINT_NAMES), side=np.array("right"),
        joint_frames=frames, shape_std=std, explained_variance_ratio=evr[:nb],
        anny_source_rows=Mc.row.astype(np.int32), anny_source_cols=Mc.col.astype(np.int32),
        anny_source_weights=Mc.data, license=np.array(LICENSE),
        build_info=np.array(json.dumps(build_info)),
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **data)
    os.replace(tmp, out)
    print(f"[done] wrote {out} ({out.stat().st_size / 1e6:.2f} MB) in {time.time() - t0:.0f}s")
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
