"""Render a hand video with exact ground truth (Blender Cycles on CPU, the open hand model).

    python tools/render_hand_video.py --preset example  --out examples          # hand_wave.*
    python tools/render_hand_video.py --preset test-one --out tests/data/videos  # one_hand.*
    python tools/render_hand_video.py --preset test-two --out tests/data/videos  # two_hands.*

Writes `<name>.mp4` (H.264, yuv420p), `<name>.gt.npz` (layout in `training/render/__init__.py`)
and `<name>.calib.json` (OpenCV-style true intrinsics). About 5 s a frame at 480x360 with
24 samples on 2 CPU threads.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from handmocap.export.mesh import write_atomic  # noqa: E402
from handmocap.hand import HandModel  # noqa: E402
from training.render import animate as an  # noqa: E402


@dataclass(frozen=True)
class Preset:
    name: str  # output file stem
    frames: int
    size: tuple[int, int]
    fps: float
    hfov_deg: float
    seed: int
    crf: int


PRESETS = {
    "example": Preset("hand_wave", 60, (480, 360), 15.0, 60.0, 7, 24),
    "test-one": Preset("one_hand", 30, (480, 360), 15.0, 55.0, 11, 24),
    "test-two": Preset("two_hands", 30, (480, 360), 15.0, 60.0, 23, 24),
}


def intrinsics(size: tuple[int, int], hfov_deg: float) -> np.ndarray:
    """K (3, 3) with square pixels and the principal point at the image centre (pixel centres)."""
    W, H = size
    f = 0.5 * W / math.tan(math.radians(hfov_deg) / 2)
    return np.array([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])


def _key(t, pose, yaw=0.0, pitch=0.0, roll=0.0, centre=(0.0, 0.0, 0.5)):
    return an.Keyframe(t, an.hand_pose_named(pose), an.view_orient(yaw, pitch, roll), np.array(centre, float))


def example_motion(ts: np.ndarray) -> list[dict]:
    """A right hand: open -> point -> fist -> open, then a wave; drifting across the view."""
    keys = [
        _key(0.0, "open", yaw=0.25, pitch=0.1, roll=-0.1, centre=(-0.05, 0.01, 0.48)),
        _key(0.9, "point", yaw=0.45, pitch=0.0, roll=-0.25, centre=(-0.02, -0.01, 0.46)),
        _key(1.8, "fist", yaw=0.35, pitch=-0.15, roll=0.05, centre=(0.02, 0.0, 0.44)),
        _key(2.6, "open", yaw=-0.2, pitch=0.1, roll=0.15, centre=(0.04, -0.01, 0.47)),
        _key(4.0, "open", yaw=-0.1, pitch=0.05, roll=0.0, centre=(0.03, 0.0, 0.49)),
    ]
    p = an.interpolate(keys, ts)
    # the wave: wrist roll oscillating in the last second and a half
    w = np.clip((ts - 2.6) / 0.4, 0, 1)[:, None]
    wave = w * an.wobble(ts, [0.0, 0.0, 0.35], 1.6)
    from scipy.spatial.transform import Rotation

    p["global_orient"] = (Rotation.from_euler("xyz", wave) * Rotation.from_rotvec(p["global_orient"])).as_rotvec()
    p["centre"] = p["centre"] + an.wobble(ts, [0.006, 0.004, 0.0], 0.7)
    return [dict(side="right", **p)]


def one_hand_motion(ts: np.ndarray) -> list[dict]:
    """A right hand turning from palm towards its back while moving in depth, relaxed -> peace -> open."""
    keys = [
        _key(0.0, "relaxed", yaw=-0.5, pitch=0.15, roll=0.1, centre=(0.03, 0.02, 0.42)),
        _key(0.7, "peace", yaw=0.2, pitch=0.0, roll=-0.15, centre=(0.0, 0.0, 0.5)),
        _key(1.4, "open", yaw=0.55, pitch=-0.1, roll=0.0, centre=(-0.03, -0.01, 0.56)),
        _key(2.0, "point", yaw=0.3, pitch=0.1, roll=0.2, centre=(-0.02, 0.0, 0.5)),
    ]
    p = an.interpolate(keys, ts)
    p["centre"] = p["centre"] + an.wobble(ts, [0.004, 0.005, 0.0], 1.1)
    return [dict(side="right", **p)]


def two_hands_motion(ts: np.ndarray) -> list[dict]:
    """A right hand (image left) and a left hand (image right), palms to the camera, thumbs
    inwards, each changing pose on its own schedule."""
    right = [
        _key(0.0, "open", yaw=0.2, pitch=0.1, roll=0.15, centre=(-0.11, 0.0, 0.45)),
        _key(0.8, "fist", yaw=0.35, pitch=0.0, roll=0.0, centre=(-0.1, -0.01, 0.43)),
        _key(1.5, "open", yaw=0.1, pitch=0.1, roll=0.2, centre=(-0.12, 0.01, 0.45)),
        _key(2.0, "point", yaw=0.25, pitch=0.0, roll=0.1, centre=(-0.11, 0.0, 0.45)),
    ]
    # the left hand is written as a right hand at the mirrored place, then mirrored
    left = [
        _key(0.0, "relaxed", yaw=0.3, pitch=0.0, roll=0.1, centre=(-0.12, 0.01, 0.46)),
        _key(0.6, "open", yaw=0.15, pitch=0.1, roll=0.2, centre=(-0.11, 0.0, 0.46)),
        _key(1.3, "peace", yaw=0.4, pitch=0.0, roll=0.05, centre=(-0.1, -0.01, 0.45)),
        _key(2.0, "open", yaw=0.2, pitch=0.1, roll=0.15, centre=(-0.12, 0.0, 0.46)),
    ]
    return [dict(side="right", **an.interpolate(right, ts)),
            dict(side="left", **an.to_side(an.interpolate(left, ts), "left"))]


MOTIONS = {"example": example_motion, "test-one": one_hand_motion, "test-two": two_hands_motion}


def build_ground_truth(preset: str, frames: int, size: tuple[int, int], fps: float, K: np.ndarray,
                       seed: int) -> tuple[dict, list[np.ndarray], list[np.ndarray]]:
    """Hand parameters and GT for a preset. Returns (gt arrays, per-hand vertices (T, V, 3),
    per-hand faces (F, 3))."""
    rng = np.random.default_rng(seed)
    ts = np.arange(frames) / fps
    W, H = size
    gt = {"K": K, "image_size": np.array([W, H]), "fps": np.float64(fps), "timestamps_s": ts}
    verts, faces = [], []
    hands = MOTIONS[preset](ts)
    for h, hand in enumerate(hands):
        model = HandModel(side=hand["side"], dtype=__import__("torch").float64)
        betas = np.clip(rng.normal(0.0, 0.8, 10), -2.0, 2.0)
        out = an.pose_hand(model, hand["hand_pose"], hand["global_orient"], hand["centre"], betas)
        kp_px = an.project(out["keypoints_cam"], K)
        inside = ((kp_px[..., 0] >= -0.5) & (kp_px[..., 0] <= W - 0.5) & (kp_px[..., 1] >= -0.5)
                  & (kp_px[..., 1] <= H - 0.5) & (out["keypoints_cam"][..., 2] > 0))
        gt.update({f"hand{h}_side": np.array(hand["side"]), f"hand{h}_global_orient": hand["global_orient"],
                   f"hand{h}_hand_pose": hand["hand_pose"], f"hand{h}_betas": betas,
                   f"hand{h}_transl": out["transl"], f"hand{h}_keypoints_cam": out["keypoints_cam"],
                   f"hand{h}_keypoints_px": kp_px, f"hand{h}_visible": inside.all(1)})
        verts.append(out["vertices_cam"])
        faces.append(model.faces.numpy())
    gt["num_hands"] = np.int64(len(hands))
    gt["model_id"] = np.array(HandModel().model_id)
    return gt, verts, faces


def render_frames(verts: list[np.ndarray], faces: list[np.ndarray], K: np.ndarray, size: tuple[int, int],
                  seed: int, samples: int, threads: int = 2, log=print) -> list[np.ndarray]:
    """Render every frame; returns sRGB uint8 frames (H, W, 3). verts: per hand (T, V, 3) metres."""
    from training.render import scene as sc

    rng = np.random.default_rng(seed + 1000)
    look = sc.random_look(rng, len(verts))
    scene = sc.new_scene(K, size, samples=samples, threads=threads)
    sc.add_lights(scene, look)
    sc.add_backdrop(scene, look, K, size)
    objs = [sc.add_hand(scene, f"hand{h}", v[0], f, look.skin[h], seed=seed + h)
            for h, (v, f) in enumerate(zip(verts, faces))]
    linear, exposures = [], []
    T = verts[0].shape[0]
    for i in range(T):
        t0 = time.time()
        for obj, v in zip(objs, verts):
            sc.set_vertices(obj, v[i])
        img = sc.render_linear(scene, seed=seed * 1000 + i)
        mask = np.zeros(img.shape[:2], bool)
        for v, f in zip(verts, faces):
            mask |= sc.hand_mask(v[i], f, K, size)
        exposures.append(sc.exposure_for(img, mask, look.exposure_target))
        linear.append(img[..., :3].astype(np.float16))
        log(f"frame {i + 1}/{T}: {time.time() - t0:.1f} s")
    # auto-exposure that follows the hand but does not flicker: smooth in log space
    logs = np.log(np.array(exposures))
    k = np.ones(5) / 5
    smooth = np.exp(np.convolve(np.pad(logs, 2, mode="edge"), k, mode="valid"))
    return [sc.tone_map(x.astype(np.float32), e) for x, e in zip(linear, smooth)]


def encode_mp4(frames: list[np.ndarray], fps: float, path: Path, crf: int = 24) -> None:
    """H.264 yuv420p mp4 via ffmpeg (must be on PATH). frames: (H, W, 3) uint8 RGB."""
    H, W = frames[0].shape[:2]
    tmp = path.with_name(path.name + ".part.mp4")
    cmd = ["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{W}x{H}",
           "-r", f"{fps}", "-i", "-", "-c:v", "libx264", "-preset", "slow", "-crf", str(crf),
           "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(tmp)]
    subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in frames), check=True)
    tmp.replace(path)


def calib_json(K: np.ndarray, size: tuple[int, int]) -> str:
    return json.dumps({"camera_matrix": K.tolist(), "dist_coeffs": [0.0] * 5,
                       "image_width": int(size[0]), "image_height": int(size[1])}, indent=2)


def render_video(preset: str, out_dir: Path, frames: int | None = None, size: tuple[int, int] | None = None,
                 seed: int | None = None, samples: int = 24, name: str | None = None, log=print) -> dict:
    """Render a preset to `out_dir/<name>.{mp4,gt.npz,calib.json}`. Returns the GT arrays."""
    p = PRESETS[preset]
    frames = frames or p.frames
    size = size or p.size
    seed = p.seed if seed is None else seed
    name = name or p.name
    K = intrinsics(size, p.hfov_deg)
    gt, verts, faces = build_ground_truth(preset, frames, size, p.fps, K, seed)
    t0 = time.time()
    images = render_frames(verts, faces, K, size, seed, samples, log=log)
    log(f"rendered {frames} frames in {time.time() - t0:.0f} s ({(time.time() - t0) / frames:.1f} s/frame)")
    out_dir.mkdir(parents=True, exist_ok=True)
    encode_mp4(images, p.fps, out_dir / f"{name}.mp4", p.crf)
    buf = io.BytesIO()
    np.savez_compressed(buf, **gt)
    write_atomic(out_dir / f"{name}.gt.npz", buf.getvalue())
    write_atomic(out_dir / f"{name}.calib.json", calib_json(K, size).encode())
    return gt


def _size(text: str) -> tuple[int, int]:
    w, _, h = text.lower().partition("x")
    return int(w), int(h)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="output folder")
    ap.add_argument("--preset", choices=sorted(PRESETS), default="example")
    ap.add_argument("--frames", type=int, default=None, help="number of frames (preset's default)")
    ap.add_argument("--size", type=_size, default=None, help="WxH pixels, e.g. 480x360")
    ap.add_argument("--seed", type=int, default=None, help="look and shape seed (preset's default)")
    ap.add_argument("--samples", type=int, default=24, help="Cycles samples per pixel")
    ap.add_argument("--name", default=None, help="output file stem (preset's default)")
    a = ap.parse_args(argv)
    render_video(a.preset, a.out, a.frames, a.size, a.seed, a.samples, a.name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
