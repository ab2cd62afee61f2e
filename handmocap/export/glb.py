"""Skinned, animated GLB of a motion (pygltflib).

Layout of the file:
- node "camera": the video's camera at the origin (OpenCV camera == glTF camera after the
  axis turn), perspective with the motion's vertical field of view and aspect ratio;
- per track a node "T<k>_camera_space" with rotation diag(1, -1, -1) (OpenCV -> glTF)
  holding the 16 joint nodes of the MANO tree (`T0_wrist`, `T0_index1`, ...);
- per track a root-level skinned mesh node (the track's shaped flat hand, bind pose =
  identity joint rotations) and one animation: wrist translation + rotation and the 15
  local finger rotations per frame, times in seconds from the clip start. Frames where
  the track is absent hide the hand (wrist scale 0, STEP).
The skinned mesh equals `HandModel(side)(global_orient, hand_pose, betas, transl)` in
camera space, turned into glTF axes.
A still (`Motion.is_still`) has no animation: its joint nodes hold the pose itself, so
any viewer shows the posed hand.
"""
from __future__ import annotations

import math

import numpy as np
import pygltflib as gl
import torch

from ..errors import FormatError
from ..geometry.rotations import axis_angle_to_matrix, matrix_to_quaternion
from ..hand import HandModel
from ..hand.joints import MANO_JOINT_NAMES
from ..motion import Motion
from .axes import CV_TO_GLTF, CV_TO_GLTF_QUAT_XYZW

SKIN_COLOUR = [0.80, 0.58, 0.47, 1.0]
_FLOAT, _USHORT, _UBYTE = gl.FLOAT, gl.UNSIGNED_SHORT, gl.UNSIGNED_BYTE


class _Blob:
    """Binary buffer builder: one buffer view per accessor, 4-byte aligned."""

    def __init__(self, gltf: gl.GLTF2):
        self.gltf, self.data = gltf, bytearray()

    def add(self, array: np.ndarray, kind: str, component: int, target: int | None = None,
            minmax: bool = False) -> int:
        raw = np.ascontiguousarray(array).tobytes()
        while len(self.data) % 4:
            self.data.append(0)
        view = gl.BufferView(buffer=0, byteOffset=len(self.data), byteLength=len(raw), target=target)
        self.data.extend(raw)
        self.gltf.bufferViews.append(view)
        acc = gl.Accessor(bufferView=len(self.gltf.bufferViews) - 1, componentType=component,
                          count=len(array), type=kind)
        if minmax:
            flat = np.asarray(array, dtype=np.float64).reshape(len(array), -1)
            acc.min, acc.max = flat.min(0).tolist(), flat.max(0).tolist()
        self.gltf.accessors.append(acc)
        return len(self.gltf.accessors) - 1


def _quat_xyzw(axis_angle: np.ndarray) -> np.ndarray:
    """(..., 3) axis-angle -> (..., 4) glTF quaternions (x, y, z, w), sign-continuous over
    the leading (time) axis so LINEAR interpolation never takes the long way."""
    q = matrix_to_quaternion(axis_angle_to_matrix(torch.as_tensor(axis_angle, dtype=torch.float64))).numpy()
    q = np.concatenate([q[..., 1:], q[..., :1]], -1)
    for t in range(1, len(q)):
        flip = (q[t] * q[t - 1]).sum(-1) < 0
        q[t][flip] *= -1
    return q.astype(np.float32)


def _vertex_normals(verts: np.ndarray, faces: np.ndarray) -> np.ndarray:
    n = np.zeros_like(verts)
    fn = np.cross(verts[faces[:, 1]] - verts[faces[:, 0]], verts[faces[:, 2]] - verts[faces[:, 0]])
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _skin_top4(weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(V, 16) weights -> JOINTS_0 (V, 4) uint8 and WEIGHTS_0 (V, 4) float32 summing to 1."""
    idx = np.argsort(-weights, axis=1)[:, :4]
    w = np.take_along_axis(weights, idx, 1)
    w = w / w.sum(1, keepdims=True)
    idx = np.where(w > 0, idx, 0)
    return idx.astype(np.uint8), w.astype(np.float32)


def _visibility_keys(motion: Motion, frame_index: np.ndarray, times: np.ndarray):
    """STEP scale keys that hide the hand on frames where the track does not exist, or
    None when the track covers the whole clip without gaps."""
    full = len(frame_index) == motion.num_frames and np.all(np.diff(frame_index) == 1)
    if full:
        return None
    dt = 1.0 / motion.fps
    keys = []
    if frame_index[0] > 0:
        keys.append((0.0, 0.0))
    for i, f in enumerate(frame_index):
        keys.append((times[i], 1.0))
        if i + 1 == len(frame_index) or frame_index[i + 1] != f + 1:
            if f + 1 < motion.num_frames:
                nxt = times[i + 1] if i + 1 < len(frame_index) else times[i] + dt
                keys.append((min(times[i] + dt, nxt - 1e-4), 0.0))
    t = np.array([k[0] for k in keys], dtype=np.float32)
    s = np.repeat(np.array([k[1] for k in keys], dtype=np.float32)[:, None], 3, 1)
    return t, s


def clip_start_s(motion: Motion) -> float:
    """Presentation time of the clip's frame 0, seconds: animation times are measured from
    it, so a hand that appears at frame f is keyed from f / fps (not from 0)."""
    # frame_index / fps >= 0, so this is never later than any track's first key
    starts = [float(t.timestamp_s[0]) - float(t.frame_index[0]) / motion.fps for t in motion.tracks if len(t)]
    return min(starts, default=0.0)


def _check_times(motion: Motion) -> None:
    """glTF sampler inputs must increase strictly; say which track breaks that."""
    for k, t in enumerate(motion.tracks):
        ts = np.asarray(t.timestamp_s, dtype=np.float64)
        if len(ts) and (not np.all(np.isfinite(ts)) or np.any(np.diff(ts.astype(np.float32)) <= 0)):
            raise FormatError(motion.source, f"track {k}: timestamp_s must be finite and strictly increasing")


def glb_bytes(motion: Motion, hand_model: str | None = None) -> bytes:
    """The motion as one binary glTF (see module docstring)."""
    _check_times(motion)
    gltf = gl.GLTF2(asset=gl.Asset(version="2.0", generator="handmocap"))
    blob = _Blob(gltf)
    gltf.scene = 0
    gltf.scenes.append(gl.Scene(name="handmocap", nodes=[]))
    gltf.materials.append(gl.Material(name="skin", pbrMetallicRoughness=gl.PbrMetallicRoughness(
        baseColorFactor=SKIN_COLOUR, metallicFactor=0.0, roughnessFactor=0.6), doubleSided=False))
    W, H = motion.image_size
    K = motion.camera.matrix
    gltf.cameras.append(gl.Camera(type="perspective", name="video_camera", perspective=gl.Perspective(
        yfov=2 * math.atan(H / (2 * K[1, 1])), aspectRatio=W / H, znear=0.01, zfar=100.0)))
    gltf.nodes.append(gl.Node(name="camera", camera=0))
    gltf.scenes[0].nodes.append(0)
    t_start = clip_start_s(motion)
    models: dict[str, HandModel] = {}
    for k, track in enumerate(motion.tracks):
        if len(track) == 0:
            continue
        hand = models.setdefault(track.side, HandModel(hand_model, side=track.side, dtype=torch.float64))
        betas = torch.as_tensor(track.betas, dtype=torch.float64)[None]
        rest = hand(betas=betas)  # flat hand (flat_hand_mean: zero pose), identity rotations
        v_rest, j_rest = rest.vertices[0].numpy(), rest.joints[0].numpy()
        prefix = f"T{k}_"
        # one axis-turn node per track, so importers make one armature per hand
        gltf.scenes[0].nodes.append(len(gltf.nodes))
        gltf.nodes.append(gl.Node(name=f"{prefix}camera_space", rotation=list(CV_TO_GLTF_QUAT_XYZW),
                                  children=[len(gltf.nodes) + 1]))
        first = len(gltf.nodes)
        for j, name in enumerate(MANO_JOINT_NAMES):
            parent = hand.parents[j]
            offset = j_rest[j] - (j_rest[parent] if parent >= 0 else 0.0)
            gltf.nodes.append(gl.Node(name=prefix + name, translation=offset.tolist(), children=[]))
            if parent >= 0:
                gltf.nodes[first + parent].children.append(first + j)
        # mesh in glTF axes at bind pose; inverse bind = inverse(root turn * T(J_rest))
        pos = v_rest @ CV_TO_GLTF.T
        faces = hand.faces.numpy()
        joints4, weights4 = _skin_top4(hand.lbs_weights.numpy())
        attrs = gl.Attributes(
            POSITION=blob.add(pos.astype(np.float32), gl.VEC3, _FLOAT, gl.ARRAY_BUFFER, minmax=True),
            NORMAL=blob.add(_vertex_normals(pos, faces).astype(np.float32), gl.VEC3, _FLOAT, gl.ARRAY_BUFFER),
            JOINTS_0=blob.add(joints4, gl.VEC4, _UBYTE, gl.ARRAY_BUFFER),
            WEIGHTS_0=blob.add(weights4, gl.VEC4, _FLOAT, gl.ARRAY_BUFFER))
        indices = blob.add(faces.reshape(-1).astype(np.uint16 if len(pos) < 65535 else np.uint32), gl.SCALAR,
                           _USHORT if len(pos) < 65535 else gl.UNSIGNED_INT, gl.ELEMENT_ARRAY_BUFFER)
        gltf.meshes.append(gl.Mesh(name=f"{prefix}hand_{track.side}", primitives=[
            gl.Primitive(attributes=attrs, indices=indices, material=0)]))
        ibm = np.zeros((16, 4, 4), dtype=np.float32)
        ibm[:, :3, :3] = CV_TO_GLTF  # its own inverse and transpose
        ibm[:, :3, 3] = -j_rest
        ibm[:, 3, 3] = 1
        # glTF stores matrices column-major
        gltf.skins.append(gl.Skin(name=f"{prefix}skin", joints=list(range(first, first + 16)), skeleton=first,
                                  inverseBindMatrices=blob.add(ibm.transpose(0, 2, 1).reshape(16, 16), gl.MAT4, _FLOAT)))
        gltf.nodes.append(gl.Node(name=f"{prefix}hand_{track.side}", mesh=len(gltf.meshes) - 1,
                                  skin=len(gltf.skins) - 1))
        gltf.scenes[0].nodes.append(len(gltf.nodes) - 1)
        if motion.is_still:
            _pose_joint_nodes(gltf.nodes[first:first + 16], track, j_rest[0])
        else:
            gltf.animations.append(_animation(blob, motion, track, first, j_rest[0], t_start, prefix))
    gltf.extras = {"handmocap": {"schema": "handmocap.motion", "version": motion.version,
                                 "source": motion.source, "fps": motion.fps, "num_frames": motion.num_frames,
                                 "hand_model_id": motion.hand_model_id, "camera_model": motion.camera.model,
                                 "K": K.tolist()}}
    gltf.buffers.append(gl.Buffer(byteLength=len(blob.data)))
    gltf.set_binary_blob(bytes(blob.data))
    return b"".join(gltf.save_to_bytes())


def _animation(blob: _Blob, motion: Motion, track, first: int, wrist_rest: np.ndarray, t_start: float,
               prefix: str) -> gl.Animation:
    times = (np.asarray(track.timestamp_s, dtype=np.float64) - t_start).astype(np.float32)
    anim = gl.Animation(name=f"{prefix}{track.side}", samplers=[], channels=[])

    frame_times = blob.add(times, gl.SCALAR, _FLOAT, minmax=True)  # shared by every LINEAR sampler

    def channel(node: int, path: str, values: np.ndarray, kind: str, key_times=None, interpolation="LINEAR"):
        t = frame_times if key_times is None else blob.add(key_times, gl.SCALAR, _FLOAT, minmax=True)
        anim.samplers.append(gl.AnimationSampler(
            input=t, output=blob.add(values.astype(np.float32), kind, _FLOAT), interpolation=interpolation))
        anim.channels.append(gl.AnimationChannel(sampler=len(anim.samplers) - 1,
                                                 target=gl.AnimationChannelTarget(node=node, path=path)))

    # MANO: posed wrist = J0_rest + transl (global_orient turns about the wrist)
    channel(first, "translation", wrist_rest[None] + np.asarray(track.transl, dtype=np.float64), gl.VEC3)
    channel(first, "rotation", _quat_xyzw(track.global_orient), gl.VEC4)
    local = _quat_xyzw(np.asarray(track.hand_pose, dtype=np.float64).reshape(-1, 15, 3))
    for j in range(15):
        channel(first + 1 + j, "rotation", local[:, j], gl.VEC4)
    vis = _visibility_keys(motion, np.asarray(track.frame_index), times)
    if vis is not None:
        channel(first, "scale", vis[1], gl.VEC3, key_times=vis[0], interpolation="STEP")
    return anim


def _pose_joint_nodes(joints: list, track, wrist_rest: np.ndarray) -> None:
    """Put a still's pose (its only frame) on the 16 joint nodes, as the animation would."""
    joints[0].translation = (wrist_rest + np.asarray(track.transl[0], dtype=np.float64)).tolist()
    joints[0].rotation = _quat_xyzw(np.asarray(track.global_orient[:1], dtype=np.float64))[0].tolist()
    local = _quat_xyzw(np.asarray(track.hand_pose[:1], dtype=np.float64).reshape(1, 15, 3))[0]
    for j in range(15):
        joints[1 + j].rotation = local[j].tolist()


def export_glb(motion: Motion, path, hand_model: str | None = None):
    """Write `path` atomically; returns it."""
    from .mesh import write_atomic

    return write_atomic(path, glb_bytes(motion, hand_model))


__all__ = ["glb_bytes", "export_glb"]
