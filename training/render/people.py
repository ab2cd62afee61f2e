"""People for rendered evaluation footage: full anny (MakeHuman) bodies, posed arms and hands.

No bpy here: numpy/torch and the `anny` package (a build-time extra, `pip install .[build-asset]`).
The ground truth is the rendered body's own hand: 21 keypoints in our order (0 wrist,
1-4 thumb CMC/MCP/IP/tip, 5-8 index MCP/PIP/DIP/tip, ... 17-20 pinky) taken from anny's
posed bone heads (joints) and, for the tips, the skin vertex farthest along each distal bone.
Nothing of the open hand model goes into the ground truth; only its pose vocabulary
(`handmocap.hand.poses`: MANO `hand_pose`, flat-hand-mean semantics) is mapped onto anny's
finger bones.

anny world frame: z up, the body faces -y, its right side is -x, metres. anny's default pose
parameterisation ('local-ref') takes per-bone rotations in world axes at the rest pose,
composed after the parent's motion: exactly MANO's convention once the hand's canonical
frame (fingers -x, palm -y, thumb +z for a right hand) is mapped to the world.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.spatial.transform import Rotation

from handmocap.hand.joints import MANO_TO_KEYPOINTS

SIDES = ("right", "left")
VIEWS = ("palmar", "dorsal", "side", "egocentric", "over-the-shoulder")
# MakeHuman numbering: finger1 thumb .. finger5 pinky; finger1-1 is the thumb metacarpal,
# so its head is the CMC joint. Keyed by MANO joint id (1..15).
_MANO_BONE = {1: "finger2-1", 2: "finger2-2", 3: "finger2-3", 4: "finger3-1", 5: "finger3-2",
              6: "finger3-3", 7: "finger5-1", 8: "finger5-2", 9: "finger5-3", 10: "finger4-1",
              11: "finger4-2", 12: "finger4-3", 13: "finger1-1", 14: "finger1-2", 15: "finger1-3"}
_CHAINS = ((1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12), (13, 14, 15))
_TIP_BONES = ("finger1-3", "finger2-3", "finger3-3", "finger4-3", "finger5-3")  # thumb .. pinky
_HAND_BONES = ("wrist", "metacarpal1", "metacarpal2", "metacarpal3", "metacarpal4") + tuple(_MANO_BONE.values())
LOCAL_CHANGES = [f"{s}-hand-{k}" for s in "rl" for k in ("scale-incr", "fingers-length-incr",
                                                          "fingers-diameter-incr", "fingers-distance-incr")]
# per-face material slots of a body
SKIN, SHIRT, TROUSERS, SHOES = range(4)


def build_anny():
    """The full-body anny model (first build ~1 min and ~1.5 GB RAM, then cached)."""
    os.environ.setdefault("ANNY_CACHE_DIR", os.path.expanduser("~/.cache/anny"))
    os.environ.setdefault("WARP_CACHE_PATH", os.path.expanduser("~/.cache/warp"))
    import anny

    return anny.Anny(rig="anny", topology="anny", local_changes=LOCAL_CHANGES,
                     phenotypes="all", skinning_method="lbs")


def _sfx(side: str) -> str:
    return ".R" if side == "right" else ".L"


def _hand_frame(heads: dict, side: str) -> np.ndarray:
    """(3, 3) columns: the hand's canonical axes in world coordinates (fingers -x, thumb +z,
    palm -y). For a left hand the frame is a reflection, so a right-hand rotation expressed in
    it is the mirrored rotation of the left hand."""
    s = _sfx(side)
    x = heads["wrist" + s] - heads["finger3-1" + s]
    x /= np.linalg.norm(x)
    z = heads["finger2-1" + s] - heads["finger5-1" + s]
    z -= (z @ x) * x
    z /= np.linalg.norm(z)
    y = np.cross(z, x)  # dorsal for a right hand
    return np.stack([x, y if side == "right" else -y, z], axis=1)


def _rot4(R: np.ndarray) -> torch.Tensor:
    M = torch.eye(4, dtype=torch.float64)
    M[:3, :3] = torch.as_tensor(R)
    return M


def _aa(v) -> np.ndarray:
    return Rotation.from_rotvec(np.asarray(v, float)).as_matrix()


def _between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    axis = np.cross(a, b)
    s = np.linalg.norm(axis)
    if s < 1e-9:
        return np.eye(3)
    return _aa(axis / s * np.arctan2(s, a @ b))


@dataclass
class ArmPose:
    """One arm's pose, radians. `upper_dir` (3,) world direction of the upper arm (shoulder ->
    elbow), `upper_twist` about it, `elbow` flexion, `forearm_twist` about the forearm,
    `wrist` (flexion, deviation), `hand_pose` (45,) MANO right-hand pose (flat-hand-mean)."""

    upper_dir: np.ndarray
    upper_twist: float = 0.0
    elbow: float = 0.3
    forearm_twist: float = 0.0
    wrist: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hand_pose: np.ndarray = field(default_factory=lambda: np.zeros(45))


class Person:
    """One subject: phenotype, hand shape and rest skeleton; poses it and reads the GT.

    Args:
        model: from `build_anny()` (shared between subjects).
        phenotype: anny phenotype values in [0, 1].
        local_changes: anny local changes in [-1, 1] (hand scale, finger length, ...).
    """

    def __init__(self, model, phenotype: dict, local_changes: dict):
        from handmocap.hand.assets import load_hand_asset

        self.model = model
        self.labels = list(model.bone_labels)
        self.bidx = {b: i for i, b in enumerate(self.labels)}
        self.phenotype = {k: torch.tensor([float(v)], dtype=model.dtype) for k, v in phenotype.items()}
        self.local_changes = {k: torch.tensor([float(v)], dtype=model.dtype) for k, v in local_changes.items()}
        self.hands_mean = load_hand_asset().hands_mean.reshape(15, 3)
        rest = self.forward(None)
        self.rest_vertices = rest["vertices"]
        self.rest_heads = rest["heads"]
        self.heads = {b: rest["heads"][i] for i, b in enumerate(self.labels)}
        self.frames = {s: _hand_frame(self.heads, s) for s in SIDES}
        self.weights = model.dense_vertex_bone_weights.double().numpy() if hasattr(
            model, "dense_vertex_bone_weights") else None
        self.faces = model.faces.numpy().astype(np.int64)
        self.dominant = self.weights.argmax(1)
        self.tip_ids = {s: self._tip_vertices(s) for s in SIDES}

    # --------------------------------------------------------------- shape
    def forward(self, deltas: dict | None, vertices: bool = True) -> dict:
        """Posed body: bone heads (B, 3) and, with `vertices`, vertices (V, 3), world metres.

        The rest model is computed once per subject; skinning is LBS on anny's sparse weights
        (the same weights anny's dense skinning uses)."""
        m = self.model
        with torch.no_grad():
            if not hasattr(self, "_rest"):
                _, ph, lc, fa = m.get_tensor_inputs(None, self.phenotype, self.local_changes, None)
                self._rest = m.get_rest_model(m._get_phenotype_blendshape_coefficients(ph, lc, fa))
                self._rest_v = self._rest["rest_vertices"][0].double().numpy()
                self._w = m.vertex_bone_weights.double().numpy()
                self._wi = m.vertex_bone_indices.long().numpy()
            T, poses = m.get_bone_transforms(deltas, self._rest["rest_bone_poses"])
        T = T[0].double().numpy()
        out = {"heads": poses[0, :, :3, 3].double().numpy(), "transforms": T}
        if vertices:
            out["vertices"] = self.skin(T, np.arange(len(self._rest_v)))
        return out

    def skin(self, transforms: np.ndarray, ids: np.ndarray) -> np.ndarray:
        """(len(ids), 3) posed positions of rest vertices `ids` under bone transforms (B, 4, 4)."""
        v = self._rest_v[ids]
        w, wi = self._w[ids], self._wi[ids]  # (n, k)
        A = np.einsum("nk,nkij->nij", w, transforms[wi][:, :, :3, :])  # (n, 3, 4)
        return np.einsum("nij,nj->ni", A[:, :, :3], v) + A[:, :, 3]

    def _tip_vertices(self, side: str) -> list[int]:
        """Per finger (thumb .. pinky) the vertex skinned mainly to the distal bone that lies
        farthest along it (from the bone's head towards its vertices' centroid)."""
        ids = []
        for b in _TIP_BONES:
            bi = self.bidx[b + _sfx(side)]
            cand = np.flatnonzero(self.dominant == bi)
            pts = self.rest_vertices[cand]
            d = pts.mean(0) - self.rest_heads[bi]
            ids.append(int(cand[np.argmax((pts - self.rest_heads[bi]) @ d)]))
        return ids

    def keypoints(self, posed: dict, side: str) -> np.ndarray:
        """(21, 3) world metres, our keypoint order, of the posed body's `side` hand."""
        s = _sfx(side)
        joints = [posed["heads"][self.bidx["wrist" + s]]]
        joints += [posed["heads"][self.bidx[_MANO_BONE[j] + s]] for j in range(1, 16)]
        if "vertices" in posed:
            tips = list(posed["vertices"][self.tip_ids[side]])  # thumb, index, middle, ring, pinky
        else:
            tips = list(self.skin(posed["transforms"], np.array(self.tip_ids[side])))
        # MANO_TO_KEYPOINTS expects the tips in MANO's tip order: thumb, index, middle, ring, pinky
        return np.stack(joints + tips)[list(MANO_TO_KEYPOINTS)]

    def hand_length(self, side: str = "right") -> float:
        """Wrist -> middle MCP -> PIP -> DIP -> tip, along the bones (the extended hand's length), m."""
        kp = self.keypoints({"vertices": self.rest_vertices, "heads": self.rest_heads}, side)
        chain = kp[[0, 9, 10, 11, 12]]
        return float(np.linalg.norm(np.diff(chain, axis=0), axis=1).sum())

    def hand_vertex_mask(self, side: str) -> np.ndarray:
        """(V,) bool: vertices skinned mainly to the hand's bones (not the forearm)."""
        ids = [self.bidx[b + _sfx(side)] for b in _HAND_BONES]
        return np.isin(self.dominant, ids)

    def face_materials(self, sleeve_m: dict, shoes: bool = True) -> np.ndarray:
        """(F,) material slot per face: skin, shirt (torso, arms down to `sleeve_m[side]`
        metres proximal of the wrist), trousers, shoes."""
        lab = np.full(len(self.rest_vertices), SKIN)
        names = np.array(self.labels)[self.dominant]
        torso = np.array([n.startswith(("spine", "clavicle", "shoulder", "upperarm", "lowerarm", "pelvis"))
                          for n in names])
        legs = np.array([n.startswith(("upperleg", "lowerleg")) for n in names])
        feet = np.array([n.startswith(("foot", "toe")) for n in names])
        lab[torso] = SHIRT
        lab[legs] = TROUSERS
        lab[feet] = SHOES if shoes else SKIN
        for side in SIDES:
            s = _sfx(side)
            w, e = self.heads["wrist" + s], self.heads["lowerarm01" + s]
            axis = (e - w) / np.linalg.norm(e - w)
            along = (self.rest_vertices - w) @ axis
            arm = np.array([n.startswith(("lowerarm", "wrist", "finger", "metacarpal")) and n.endswith(s)
                            for n in names])
            lab[arm & (along < sleeve_m[side])] = SKIN
        # a face takes its vertices' majority slot
        f = lab[self.faces]
        out = f[:, 0].copy()
        agree = f[:, 1] == f[:, 2]
        out[agree] = f[agree, 1]
        return out

    # --------------------------------------------------------------- pose
    def deltas(self, arms: dict[str, ArmPose]) -> dict:
        """anny pose dict (bone -> (1, 4, 4)) from arm poses keyed by side."""
        d = {}
        for side, arm in arms.items():
            s = _sfx(side)
            sh, el, wr = (self.heads[b + s] for b in ("upperarm01", "lowerarm01", "wrist"))
            a_rest = el - sh
            u = arm.upper_dir / np.linalg.norm(arm.upper_dir)
            d["upperarm01" + s] = _aa(u * arm.upper_twist) @ _between(a_rest, u)
            fwd = np.array([0.0, -1.0, 0.0])
            k = np.cross(a_rest, fwd)
            d["lowerarm01" + s] = _aa(k / np.linalg.norm(k) * arm.elbow)
            fa = (wr - el) / np.linalg.norm(wr - el)
            d["lowerarm02" + s] = _aa(fa * arm.forearm_twist)
            C = self.frames[side]
            local = _aa([0.0, 0.0, arm.wrist[0]]) @ _aa([0.0, arm.wrist[1], 0.0])
            d["wrist" + s] = C @ local @ C.T
            d.update(self._finger_deltas(arm.hand_pose, side))
        return {k: _rot4(v)[None].to(self.model.dtype) for k, v in d.items()}

    def _finger_deltas(self, hand_pose: np.ndarray, side: str) -> dict:
        """World-axis rotations of the finger bones relative to anny's rest (relaxed) hand.

        MANO: joint j's rotation R_j = exp(hand_pose_j + hands_mean_j) in its parent's frame;
        anny's rest hand is about the mean pose, R_j_rest = exp(hands_mean_j). The delta after
        the parent's motion is G_parent_rest R_j R_j_rest^T G_parent_rest^T (canonical axes)."""
        hp = np.asarray(hand_pose, float).reshape(15, 3)
        C = self.frames[side]
        out = {}
        for chain in _CHAINS:
            G = np.eye(3)
            for j in chain:
                rest = _aa(self.hands_mean[j - 1])
                D = G @ _aa(hp[j - 1] + self.hands_mean[j - 1]) @ rest.T @ G.T
                out[_MANO_BONE[j] + _sfx(side)] = C @ D @ C.T
                G = G @ rest
        return out


# ------------------------------------------------------------------- sampling
def sample_person(model, rng: np.random.Generator, hand_length_m: float) -> Person:
    """A random adult with the right hand's length near `hand_length_m` (17-25 cm): random
    phenotype and finger proportions, then the hand scale found by bisection."""
    phen = {"gender": rng.uniform(0, 1), "age": rng.uniform(0.5, 0.9), "muscle": rng.uniform(0.2, 0.8),
            "weight": rng.uniform(0.2, 0.8), "height": rng.uniform(0.2, 0.8), "proportions": rng.uniform(0.3, 0.7)}
    race = rng.dirichlet([0.7, 0.7, 0.7])
    phen.update(african=race[0], asian=race[1], caucasian=race[2])
    lc = {}
    for s in "rl":
        lc[f"{s}-hand-fingers-length-incr"] = rng.uniform(-0.6, 0.6)
        lc[f"{s}-hand-fingers-diameter-incr"] = rng.uniform(-0.8, 0.8)
        lc[f"{s}-hand-fingers-distance-incr"] = rng.uniform(-0.8, 0.8)
    for s in "rl":  # the left hand follows the right one's proportions, as in real people
        lc[f"{s}-hand-fingers-length-incr"] = lc["r-hand-fingers-length-incr"]
    lo, hi = -1.0, 1.0
    person = None
    for _ in range(7):
        mid = 0.5 * (lo + hi)
        lc["r-hand-scale-incr"] = lc["l-hand-scale-incr"] = mid
        person = Person(model, phen, lc)
        if person.hand_length("right") < hand_length_m:
            lo = mid
        else:
            hi = mid
    return person


def sample_arm(rng: np.random.Generator, side: str, reach: str = "any") -> ArmPose:
    """A random arm pose bringing the hand in front of the body ('front': in front of the
    chest, as seen from the eyes; 'any': anywhere from the side to the front)."""
    out = -1.0 if side == "right" else 1.0  # the body's right is -x
    if reach == "front":
        el, az = np.radians(rng.uniform(-60, -15)), np.radians(rng.uniform(-25, 35))
        elbow = np.radians(rng.uniform(55, 115))
    else:
        el, az = np.radians(rng.uniform(-70, 20)), np.radians(rng.uniform(-20, 80))
        elbow = np.radians(rng.uniform(15, 120))
    u = np.cos(el) * (np.cos(az) * np.array([0, -1.0, 0]) + np.sin(az) * np.array([out, 0, 0])) \
        + np.sin(el) * np.array([0, 0, 1.0])
    return ArmPose(upper_dir=u, upper_twist=np.radians(rng.uniform(-30, 60)), elbow=elbow,
                   forearm_twist=np.radians(rng.uniform(-90, 70)),
                   wrist=np.radians([rng.uniform(-45, 45), rng.uniform(-20, 20)]))


def rest_arm(person: Person, side: str) -> ArmPose:
    """The arm hanging as in anny's rest pose, relaxed hand."""
    s = _sfx(side)
    return ArmPose(upper_dir=person.heads["lowerarm01" + s] - person.heads["upperarm01" + s], elbow=0.0)


# ------------------------------------------------------------------- cameras
def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """(3, 3) world -> OpenCV camera rotation (x right, y down, z forward)."""
    z = target - eye
    z /= np.linalg.norm(z)
    x = np.cross(z, up)
    if np.linalg.norm(x) < 1e-6:
        x = np.cross(z, np.array([1.0, 0, 0]))
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    return np.stack([x, y, z])


def hand_axes(kp: np.ndarray, side: str) -> dict:
    """Palm normal (towards the palm's outside), back normal, radial (thumb side) direction
    of posed keypoints (21, 3)."""
    x = kp[0] - kp[9]
    x /= np.linalg.norm(x)
    z = kp[5] - kp[17]
    z -= (z @ x) * x
    z /= np.linalg.norm(z)
    back = np.cross(z, x) * (1.0 if side == "right" else -1.0)
    return {"palm": -back, "back": back, "radial": z, "fingers": -x}


def _jitter(d: np.ndarray, rng: np.random.Generator, max_deg: float) -> np.ndarray:
    axis = np.cross(d, rng.normal(size=3))
    axis /= np.linalg.norm(axis)
    return _aa(axis * np.radians(rng.uniform(0, max_deg))) @ d


def camera_for_view(view: str, kp: np.ndarray, side: str, posed: dict, person: Person,
                    distance: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Camera (R world->camera (3, 3), centre (3,)) looking at the hand's centre.

    palmar/dorsal/side: from the palm / back / thumb or little-finger side (jittered up to
    35 degrees), `distance` metres away, rolled within +-60 degrees of the world's up.
    egocentric: from just in front of the eyes. over-the-shoulder: behind and above the
    hand's shoulder."""
    centre = kp[[0, 5, 9, 13, 17]].mean(0)
    ax = hand_axes(kp, side)
    up = np.array([0, 0, 1.0])
    s = _sfx(side)
    H = {b: posed["heads"][person.bidx[b]] for b in ("eye.L", "eye.R", "head", "neck01", "shoulder01" + s)}
    if view in ("palmar", "dorsal", "side"):
        d = {"palmar": ax["palm"], "dorsal": ax["back"],
             "side": ax["radial"] * (1 if rng.uniform() < 0.6 else -1)}[view]
        d = _jitter(d, rng, 35.0 if view != "side" else 20.0)
        eye = centre + distance * d
        roll = _aa(d * np.radians(rng.uniform(-60, 60)))
        return look_at(eye, centre, roll @ up), eye
    if view == "egocentric":
        fwd = np.array([0, -1.0, 0])
        eye = 0.5 * (H["eye.L"] + H["eye.R"]) + 0.09 * fwd + rng.normal(0, 0.01, 3)
    elif view == "over-the-shoulder":
        out = np.array([-1.0 if side == "right" else 1.0, 0, 0])
        eye = H["shoulder01" + s] + out * rng.uniform(0.05, 0.2) + np.array([0, rng.uniform(0.25, 0.45),
                                                                                 rng.uniform(0.2, 0.35)])
    else:
        raise ValueError(f"unknown view {view!r}; known: {VIEWS}")
    return look_at(eye, centre, _aa((centre - eye) / np.linalg.norm(centre - eye)
                                    * np.radians(rng.uniform(-15, 15))) @ up), eye


def offset_camera(R: np.ndarray, target_px: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Turn a camera looking straight at a point so the point lands at pixel `target_px` (2,)."""
    r = np.linalg.solve(K, np.array([target_px[0], target_px[1], 1.0]))
    return _between(np.array([0, 0, 1.0]), r) @ R


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """(..., 3) camera metres -> (..., 2) pixels."""
    p = points_cam @ K.T
    return p[..., :2] / p[..., 2:3]
