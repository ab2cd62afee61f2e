"""Hand-parameter trajectories for rendered videos: finger poses, views, keyframes, GT arrays.

Everything here is numpy/torch only (no bpy). A trajectory is a list of `Keyframe`s (time,
finger pose, view, hand-centre position) interpolated to the video's timestamps; the
`HandModel` then turns the parameters into camera-space vertices and keypoints, which are
both what Blender renders and the ground truth.

Model frame of the (right) open hand: fingers point -x, palm faces -y, thumb towards +z.
Camera frame: OpenCV (x right, y down, z forward), metres.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.spatial.transform import Rotation, Slerp

from handmocap.hand import HandModel
from handmocap.hand.mirror import mirror_axis_angle

# first of each finger's 3 joints in hand_pose (MANO joint order without the wrist)
_FINGER_SLOTS = {"index": 0, "middle": 3, "pinky": 6, "ring": 9, "thumb": 12}
# Right hand: rotating a finger joint about +z moves a finger pointing -x towards -y (palm).
_FLEX_AXIS = np.array([0.0, 0.0, 1.0])
# Abduction about +y moves a finger towards +z (the thumb side).
_SPREAD_AXIS = np.array([0.0, 1.0, 0.0])
# Thumb (flat template points along ~(-0.75, 0, 0.67)): flexion axis perpendicular to it in
# the palm plane moves the tip to -y; rotation about -y brings it across the palm.
_THUMB_FLEX_AXIS = np.array([0.67, 0.0, 0.75]) / np.linalg.norm([0.67, 0.0, 0.75])
_THUMB_OPPOSE_AXIS = np.array([0.0, -1.0, 0.0])
# Palm facing the camera, fingers up in the image, thumb to image right (right hand):
# model -x -> camera -y (up), model -y -> camera -z (towards the camera).
_PALM_TO_CAMERA = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def finger_pose(curl: dict[str, float] | None = None, spread: float = 0.0,
                thumb_oppose: float = 0.0) -> np.ndarray:
    """A right-hand `hand_pose` (45,) radians from per-finger curl amounts.

    Args:
        curl: finger name -> curl in [0, 1] (0 straight, 1 a firm, not crushing, fist);
            missing fingers stay straight.
        spread: abduction in radians at the MCPs (fingers fan out from the middle finger).
        thumb_oppose: in [0, 1], how far the thumb swings across the palm at its CMC.
    """
    curl = curl or {}
    pose = np.zeros((15, 3))
    # MCP, PIP, DIP angles at curl 1 (a relaxed fist that MediaPipe still reads)
    finger_max = np.array([1.35, 1.5, 0.9])
    fan = {"index": 1.0, "middle": 0.0, "ring": -1.0, "pinky": -2.0}
    for name, slot in _FINGER_SLOTS.items():
        j = slot  # row of the (15, 3) pose
        c = float(curl.get(name, 0.0))
        if name == "thumb":
            pose[j] = (0.35 * c) * _THUMB_FLEX_AXIS + (1.1 * thumb_oppose) * _THUMB_OPPOSE_AXIS
            pose[j + 1] = (0.8 * c) * _THUMB_FLEX_AXIS
            pose[j + 2] = (0.9 * c) * _THUMB_FLEX_AXIS
            continue
        for k in range(3):
            pose[j + k] = c * finger_max[k] * _FLEX_AXIS
        pose[j] += spread * fan[name] * (1.0 - c) * _SPREAD_AXIS
    return pose.reshape(45)


def _own_poses() -> dict[str, np.ndarray]:
    all_curl = {"index": 1.0, "middle": 1.0, "ring": 1.0, "pinky": 1.0}
    return {
        "flat": np.zeros(45),
        "open": finger_pose({"index": 0.05, "middle": 0.05, "ring": 0.08, "pinky": 0.1}, spread=0.12),
        "relaxed": finger_pose({"index": 0.25, "middle": 0.3, "ring": 0.35, "pinky": 0.4, "thumb": 0.2},
                               spread=0.05, thumb_oppose=0.2),
        "point": finger_pose({"index": 0.0, "middle": 0.95, "ring": 0.95, "pinky": 0.95, "thumb": 0.6},
                             thumb_oppose=0.6),
        "fist": finger_pose({**all_curl, "thumb": 0.7}, thumb_oppose=0.7),
        "peace": finger_pose({"index": 0.0, "middle": 0.0, "ring": 0.95, "pinky": 0.95, "thumb": 0.6},
                             spread=0.15, thumb_oppose=0.6),
    }


def hand_pose_named(name: str) -> np.ndarray:
    """Right-hand `hand_pose` (45,) radians for a named pose.

    The finger-curl poses above (flat, open, relaxed, point, fist, peace) come first: they are
    tuned so that MediaPipe still reads them (e.g. a fist that is not crushed) and keep the
    committed renders reproducible. Other names come from `handmocap.hand.poses.named_pose`.
    """
    own = _own_poses()
    if name in own:
        return own[name].copy()
    from handmocap.errors import HandmocapError
    from handmocap.hand.poses import named_pose

    try:
        return np.asarray(named_pose(name), dtype=np.float64).reshape(45)
    except (HandmocapError, KeyError) as err:
        raise KeyError(f"unknown hand pose {name!r}; known: {sorted(own)} and the pose library's") from err


def view_orient(yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0) -> np.ndarray:
    """Right-hand `global_orient` (3,) axis-angle, camera frame, for a view of the hand.

    yaw=pitch=roll=0: palm to the camera, fingers up, thumb to image right. Then, about the
    camera axes: roll (z) tilts the hand in the image plane (positive: fingers lean right),
    yaw (y) turns it towards an edge-on view (pi: back of the hand), pitch (x) tips the
    fingers towards (+) or away from the camera. Radians.
    """
    extra = Rotation.from_euler("zyx", [roll, -yaw, pitch])
    return (extra * Rotation.from_matrix(_PALM_TO_CAMERA)).as_rotvec()


@dataclass(frozen=True)
class Keyframe:
    """One key of a right-hand trajectory.

    Attributes:
        t: time, seconds.
        hand_pose: (45,) radians (flat_hand_mean=True).
        global_orient: (3,) axis-angle, camera frame.
        centre: (3,) metres, camera-space position of the middle-finger MCP (keypoint 9).
    """

    t: float
    hand_pose: np.ndarray
    global_orient: np.ndarray
    centre: np.ndarray


def _ease(u: np.ndarray) -> np.ndarray:
    return u * u * (3.0 - 2.0 * u)  # smoothstep: keys are held, not passed at full speed


def interpolate(keys: list[Keyframe], timestamps_s: np.ndarray) -> dict[str, np.ndarray]:
    """Interpolate keys (sorted by t) to `timestamps_s` (T,) seconds.

    Returns hand_pose (T, 45), global_orient (T, 3) (slerped), centre (T, 3); eased between
    keys, held before the first and after the last.
    """
    times = np.array([k.t for k in keys], dtype=np.float64)
    if np.any(np.diff(times) <= 0):
        raise ValueError("keyframe times must increase")
    t = np.clip(np.asarray(timestamps_s, dtype=np.float64), times[0], times[-1])
    seg = np.clip(np.searchsorted(times, t, side="right") - 1, 0, len(keys) - 2)
    u = _ease((t - times[seg]) / (times[seg + 1] - times[seg]))
    poses = np.stack([k.hand_pose for k in keys])
    centres = np.stack([k.centre for k in keys])
    # eased time through the keys, then the same parameter for every quantity
    s = times[seg] + u * (times[seg + 1] - times[seg])
    slerp = Slerp(times, Rotation.from_rotvec(np.stack([k.global_orient for k in keys])))
    lerp = lambda a: a[seg] + u[:, None] * (a[seg + 1] - a[seg])  # noqa: E731
    return {"hand_pose": lerp(poses), "global_orient": slerp(s).as_rotvec(), "centre": lerp(centres)}


def wobble(timestamps_s: np.ndarray, amplitude: np.ndarray, freq_hz: float, phase: float = 0.0) -> np.ndarray:
    """A smooth sinusoidal offset (T, D) = amplitude (D,) * sin(2 pi f t + phase)."""
    return np.sin(2 * np.pi * freq_hz * np.asarray(timestamps_s)[:, None] + phase) * np.asarray(amplitude)[None]


def to_side(params: dict[str, np.ndarray], side: str) -> dict[str, np.ndarray]:
    """Mirror right-hand parameters (hand_pose, global_orient, centre) for a left hand.

    The left asset is the mirror image (x -> -x) of the right one, so mirrored parameters give
    the mirror image of the right hand's motion.
    """
    if side == "right":
        return dict(params)
    out = dict(params)
    out["hand_pose"] = mirror_axis_angle(torch.as_tensor(params["hand_pose"])).numpy()
    out["global_orient"] = mirror_axis_angle(torch.as_tensor(params["global_orient"])).numpy()
    out["centre"] = params["centre"] * np.array([-1.0, 1.0, 1.0])
    return out


def pose_hand(model: HandModel, hand_pose: np.ndarray, global_orient: np.ndarray, centre: np.ndarray,
              betas: np.ndarray) -> dict[str, np.ndarray]:
    """Run the hand model so that keypoint 9 (middle MCP) lands on `centre`.

    Args:
        model: a float64 `HandModel` (flat_hand_mean=True) of the wanted side.
        hand_pose: (T, 45) radians; global_orient: (T, 3) axis-angle, camera frame;
        centre: (T, 3) metres; betas: (10,).

    Returns:
        dict with transl (T, 3) metres (model output = model(...) + transl),
        vertices_cam (T, V, 3), keypoints_cam (T, 21, 3) metres, MediaPipe order.
    """
    T = hand_pose.shape[0]
    f64 = dict(dtype=torch.float64)
    args = dict(global_orient=torch.as_tensor(global_orient, **f64), hand_pose=torch.as_tensor(hand_pose, **f64),
                betas=torch.as_tensor(betas, **f64)[None].expand(T, -1))
    with torch.no_grad():
        kp0 = model(**args).keypoints[:, 9]
        transl = torch.as_tensor(centre, **f64) - kp0
        out = model(**args, transl=transl)
    return {"transl": transl.numpy(), "vertices_cam": out.vertices.numpy(), "keypoints_cam": out.keypoints.numpy()}


def project(points_cam: np.ndarray, K: np.ndarray) -> np.ndarray:
    """Pinhole projection. points_cam: (..., 3) metres -> (..., 2) pixel centres."""
    p = points_cam @ np.asarray(K).T
    return p[..., :2] / p[..., 2:3]
