"""The people evaluation set: Blender scenes of anny bodies, stills and clips, GT files.

Imports bpy. `tools/render_eval_set.py` is the command line.

Files under a split folder:
    images/<chunk>_<i>.jpg    stills, JPEG
    chunks/chunk_<c>.npz      per-chunk GT (merged into stills.npz)
    stills.npz                N stills:
        image         (N,) str, image path relative to the split folder
        K             (N, 3, 3) float64 intrinsics, pixels (pixel-centre convention)
        image_size    (N, 2) int [W, H]
        view          (N,) str, one of people.VIEWS
        side          (N,) str, 'right' or 'left': the hand the view was made for
        subject       (N,) int, subject id (one per chunk; train and test never share one)
        hand_length_m (N,) float, the subject's hand length (wrist to middle tip along the bones)
        keypoints_cam (N, 2, 21, 3) float64 metres, camera frame, [right, left] hands, our order
        keypoints_px  (N, 2, 21, 2) pixels
        in_view       (N, 2) bool: every keypoint of that hand inside the image, in front
        occluded      (N, 2, 21) bool: keypoint hidden by the body (not by its own hand)
        hand_px       (N,) float, longer side of the target hand's 2D keypoint box
    clips/<name>.mp4, <name>.gt.npz (the layout of `training/render/__init__.py`'s GT, without
    MANO parameters; plus hand{h}_length_m), <name>.calib.json
"""
from __future__ import annotations

import io
from pathlib import Path

import bpy
import cv2
import numpy as np
from mathutils.bvhtree import BVHTree

from handmocap.export.mesh import write_atomic
from handmocap.hand.poses import sample_angles
from handmocap.hand.limits import angles_to_hand_pose

from . import backgrounds as bg
from . import people as pp
from . import scene as sc

SPLIT_SEEDS = {"test": 910_000, "train": 120_000}
# name: (hands, camera, seconds between keyframes, lens hfov degrees)
CLIPS = {"right_hand": (("right",), "front", 0.8, 55.0), "left_hand": (("left",), "egocentric", 0.8, 75.0),
         "both_hands": (("right", "left"), "front", 0.9, 60.0), "fast_motion": (("right",), "front", 0.25, 65.0)}
CLIP_FPS = 15.0
MAX_HIDDEN = 5  # a clip frame's hand counts as visible with at most this many keypoints hidden by the body
CLIP_FRAMES = 60
_MODEL = None


def anny_model():
    global _MODEL
    if _MODEL is None:
        _MODEL = pp.build_anny()
    return _MODEL


def chunk_path(out: Path, c: int) -> Path:
    return Path(out) / "chunks" / f"chunk_{c:03d}.npz"


def intrinsics(size: tuple[int, int], hfov_deg: float) -> np.ndarray:
    W, H = size
    f = 0.5 * W / np.tan(np.radians(hfov_deg) / 2)
    return np.array([[f, 0.0, (W - 1) / 2], [0.0, f, (H - 1) / 2], [0.0, 0.0, 1.0]])


# ------------------------------------------------------------------ Blender scene
def _cloth_material(name: str, rng: np.random.Generator, dark: bool = False) -> bpy.types.Material:
    """Cotton-like cloth: a random colour broken up by a fine weave and coarser folds."""
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    v = rng.uniform(0.05, 0.3) if dark else rng.uniform(0.1, 0.9)
    c1 = sc._hsv_to_linear(rng.uniform(0, 1), rng.uniform(0.0, 0.8), v)
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = rng.uniform(20, 80)
    noise.inputs["Detail"].default_value = 3.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = tuple(float(x) for x in 0.6 * c1) + (1.0,)
    ramp.color_ramp.elements[1].color = tuple(float(x) for x in c1) + (1.0,)
    links.new(noise.outputs["Fac"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.9
    return mat


def add_body(scene, person: pp.Person, rng: np.random.Generator, skin: np.ndarray, seed: int,
             subsurface: float = 0.0):
    """The body mesh with skin, shirt (sleeves 2-25 cm short of the wrist), trousers, shoes."""
    sleeves = {s: float(rng.uniform(0.02, 0.25)) for s in pp.SIDES}
    slots = person.face_materials(sleeves)
    mesh = bpy.data.meshes.new("body")
    mesh.from_pydata(person.rest_vertices.tolist(), [], person.faces.tolist())
    mesh.shade_smooth()
    skin_mat = sc._skin_material("skin", skin, seed)
    # random-walk subsurface doubles the render time of a body; a little is kept for the look
    skin_mat.node_tree.nodes["Principled BSDF"].inputs["Subsurface Weight"].default_value = subsurface
    mesh.materials.append(skin_mat)
    mesh.materials.append(_cloth_material("shirt", rng))
    mesh.materials.append(_cloth_material("trousers", rng, dark=True))
    mesh.materials.append(_cloth_material("shoes", rng, dark=True))
    mesh.polygons.foreach_set("material_index", slots.astype(np.int32))
    obj = bpy.data.objects.new("body", mesh)
    scene.collection.objects.link(obj)
    return obj


def set_lights(scene, look: sc.Look, target: np.ndarray) -> None:
    """Replace the area lights: the look's lights (placed for a subject 0.5 m away) scaled to
    the target's distance and aimed at it; the world's ambient colour."""
    from mathutils import Vector

    for obj in [o for o in scene.objects if o.type == "LIGHT"]:
        bpy.data.objects.remove(obj, do_unlink=True)
    scale = float(np.linalg.norm(target)) / 0.5
    for k, (pos, colour, power, size) in enumerate(look.lights):
        light = bpy.data.lights.new(f"light{k}", "AREA")
        light.energy, light.size = power * scale ** 2, size * scale
        light.color = tuple(float(v) for v in colour)
        obj = bpy.data.objects.new(f"light{k}", light)
        scene.collection.objects.link(obj)
        p = pos * scale
        obj.location = tuple(float(v) for v in p)
        obj.rotation_mode = "QUATERNION"
        obj.rotation_quaternion = Vector(tuple(-(target - p))).to_track_quat("Z", "Y")
    bg_node = scene.world.node_tree.nodes["Background"]
    bg_node.inputs["Color"].default_value = tuple(float(v) for v in look.ambient) + (1.0,)


def new_body_scene(person, rng, size, samples, threads, skin, seed):
    scene = sc.new_scene(intrinsics(size, 60.0), size, samples=samples, threads=threads)
    scene.render.film_transparent = True
    scene.world.use_nodes = True
    c = scene.cycles
    c.max_bounces, c.diffuse_bounces, c.glossy_bounces = 2, 1, 1  # measured: bounces beyond add little here
    # measured at 480x360 on 2 loaded cores: OIDN's default quality takes ~9 s a frame, FAST
    # without prefilter ~1.5 s, and looks the same after sensor noise and JPEG
    c.denoising_quality, c.denoising_prefilter = "FAST", "NONE"
    body = add_body(scene, person, rng, skin, seed)
    return scene, body


# ------------------------------------------------------------------ sampling a view
def occluded_by_body(verts_cam, faces_other, kp_cam) -> np.ndarray:
    """(21,) bool: keypoints whose line of sight from the camera hits the rest of the body."""
    tree = BVHTree.FromPolygons(verts_cam.tolist(), faces_other.tolist(), all_triangles=True)
    out = np.zeros(len(kp_cam), bool)
    for j, p in enumerate(kp_cam):
        d = float(np.linalg.norm(p))
        hit = tree.ray_cast((0.0, 0.0, 0.0), tuple(p / d), d - 0.012)
        out[j] = hit[0] is not None
    return out


def sample_hand_pose(rng: np.random.Generator) -> np.ndarray:
    import torch

    ang = sample_angles(1, seed=int(rng.integers(2 ** 31 - 1)), named_mix=0.35)
    return angles_to_hand_pose(ang).to(torch.float64).numpy()[0]


def sample_view(person, view, side, size, rng, tries: int = 60):
    """Pose the body and place a camera for `view` of the `side` hand, until the hand is in the
    image, 80-240 px, off-centre, and (nearly) not hidden by the body. Returns a dict or None."""
    W, H = size
    other = "left" if side == "right" else "right"
    hand_mask = {s: person.hand_vertex_mask(s) for s in pp.SIDES}
    other_faces = {s: person.faces[~hand_mask[s][person.faces].any(1)] for s in pp.SIDES}
    L = person.hand_length(side)
    for _ in range(tries):
        reach = "front" if view in ("egocentric", "over-the-shoulder") else "any"
        arms = {side: pp.sample_arm(rng, side, reach)}
        arms[side].hand_pose = sample_hand_pose(rng)
        if rng.uniform() < 0.3:  # the other hand up as well, sometimes in view
            arms[other] = pp.sample_arm(rng, other, reach)
            arms[other].hand_pose = sample_hand_pose(rng)
        else:
            arms[other] = pp.rest_arm(person, other)
        posed = person.forward(person.deltas(arms), vertices=False)  # vertices once accepted
        kp = {s: person.keypoints(posed, s) for s in pp.SIDES}
        hfov = rng.uniform(40, 90)
        K = intrinsics(size, hfov)
        want_px = rng.uniform(80, 240)
        R, eye = pp.camera_for_view(view, kp[side], side, posed, person, K[0, 0] * L / want_px, rng)
        kp_c = {s: (kp[s] - eye) @ R.T for s in pp.SIDES}
        if (kp_c[side][:, 2] < 0.08).any():
            continue
        px = pp.project(kp_c[side], K)
        ext = px.max(0) - px.min(0)
        if not 75 <= ext.max() <= 250:
            continue
        # off-centre: the hand's box anywhere in the image with a margin
        half = ext / 2 + 6
        if (2 * half > np.array([W, H])).any():
            continue
        centre_now = 0.5 * (px.max(0) + px.min(0))
        target = np.array([rng.uniform(half[0], W - half[0]), rng.uniform(half[1], H - half[1])])
        # turn the camera by the offset of the box centre (a rotation, so re-project after)
        R = pp.offset_camera(R, target - (centre_now - K[:2, 2]), K)
        posed["vertices"] = person.skin(posed["transforms"], np.arange(len(person.rest_vertices)))
        verts_c = (posed["vertices"] - eye) @ R.T
        kp_c = {s: (kp[s] - eye) @ R.T for s in pp.SIDES}
        px = {s: pp.project(kp_c[s], K) for s in pp.SIDES}
        inside = {s: bool(((px[s] >= 2) & (px[s] <= np.array([W - 3, H - 3]))).all() and (kp_c[s][:, 2] > 0.05).all())
                  for s in pp.SIDES}
        if not inside[side] or (verts_c[:, 2] < 0.02).any() and view not in ("egocentric",):
            continue
        near = verts_c[:, 2] > 0.01
        occ = {s: occluded_by_body(verts_c, other_faces[s][near[other_faces[s]].all(1)], kp_c[s])
               if inside[s] or s == side else np.zeros(21, bool) for s in pp.SIDES}
        if occ[side].sum() > 2:
            continue
        ext = px[side].max(0) - px[side].min(0)
        return dict(arms=arms, posed=posed, verts_cam=verts_c, K=K, R=R, eye=eye, kp_cam=kp_c, kp_px=px,
                    in_view=inside, occluded=occ, hand_px=float(ext.max()), hand_length_m=L)
    return None


# ------------------------------------------------------------------ rendering an image
def render_image(scene, body, person, sample, size, rng, look, seed, background) -> np.ndarray:
    """Render a sampled view and composite it on `background` (H, W, 3) uint8. Returns sRGB
    uint8 (H, W, 3) before noise and compression."""
    W, H = size
    scene.render.resolution_x, scene.render.resolution_y = W, H
    cam = scene.camera
    cam.data.sensor_fit = "HORIZONTAL" if W >= H else "VERTICAL"
    sc.set_intrinsics(cam, sample["K"], size)
    sc.set_vertices(body, sample["verts_cam"])
    kp = sample["kp_cam"]
    target = np.mean([kp[s][[0, 5, 9, 13, 17]].mean(0) for s in pp.SIDES if sample["in_view"][s]]
                     or [kp["right"][9]], axis=0)
    set_lights(scene, look, target)
    img = sc.render_linear(scene, seed=seed)
    alpha = img[..., 3:4]
    hands = np.zeros(img.shape[:2], bool)
    for s in pp.SIDES:  # meter on the hands in front of the camera
        m = person.hand_vertex_mask(s)
        fh = person.faces[m[person.faces].all(1)]
        in_front = (sample["verts_cam"][np.unique(fh), 2] > 0.01).all()
        if (sample["in_view"][s] or s == "right") and in_front:
            hands |= sc.hand_mask(sample["verts_cam"], fh, sample["K"], size)
    exposure = sc.exposure_for(img, hands & (alpha[..., 0] > 0.5), look.exposure_target)
    straight = img[..., :3] / np.maximum(alpha, 1e-3)
    fg = sc.tone_map(straight, exposure).astype(np.float32)
    out = alpha * fg + (1 - alpha) * background.astype(np.float32)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def degrade(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Sensor noise (shot-like and read noise) and a slight lens blur, uint8 RGB."""
    x = img.astype(np.float32)
    if rng.uniform() < 0.5:
        x = cv2.GaussianBlur(x, (3, 3), rng.uniform(0.3, 0.8))
    sigma = rng.uniform(1.0, 6.0)
    x = x + rng.normal(0, 1, x.shape).astype(np.float32) * (sigma * np.sqrt(np.maximum(x, 4) / 128))
    return np.clip(np.round(x), 0, 255).astype(np.uint8)


def encode_jpeg(img: np.ndarray, quality: int) -> bytes:
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    assert ok
    return buf.tobytes()


def _background(split, size, rng):
    photos = bg.photos(split)
    if photos and rng.uniform() < 0.6:
        return bg.photo_background(photos[int(rng.integers(len(photos)))], size, rng)
    return bg.wall_background(size, rng)


def _subject(split: str, c: int, rng: np.random.Generator) -> pp.Person:
    return pp.sample_person(anny_model(), rng, float(rng.uniform(0.17, 0.25)))


def render_still_chunk(split: str, c: int, n: int, out: Path, samples: int = 8, threads: int = 2,
                       log=print) -> None:
    """Render stills chunk c (one subject, n stills, views in turn) and write its GT file."""
    import time

    out = Path(out)
    rng = np.random.default_rng(SPLIT_SEEDS[split] + c)
    person = _subject(split, c, rng)
    skin = sc.random_look(rng, 1).skin[0]
    size0 = (480, 360)
    scene, body = new_body_scene(person, rng, size0, samples, threads, skin, SPLIT_SEEDS[split] + c)
    rec = {k: [] for k in ("image", "K", "image_size", "view", "side", "subject", "hand_length_m",
                           "keypoints_cam", "keypoints_px", "in_view", "occluded", "hand_px")}
    (out / "images").mkdir(parents=True, exist_ok=True)
    for i in range(n):
        t0 = time.time()
        view = pp.VIEWS[(c * n + i) % len(pp.VIEWS)]
        side = "right" if rng.uniform() < 0.5 else "left"
        size = (480, 360) if rng.uniform() < 0.7 else (360, 480)
        s = sample_view(person, view, side, size, rng)
        if s is None:
            log(f"  chunk {c} image {i}: no valid {view} view found, skipped")
            continue
        look = sc.random_look(rng, 1)
        img = render_image(scene, body, person, s, size, rng, look, seed=c * 1000 + i,
                           background=_background(split, size, rng))
        img = degrade(img, rng)
        name = f"images/{c:03d}_{i:02d}.jpg"
        write_atomic(out / name, encode_jpeg(img, int(rng.integers(55, 93))))
        rec["image"].append(name)
        rec["K"].append(s["K"])
        rec["image_size"].append(size)
        rec["view"].append(view)
        rec["side"].append(side)
        rec["subject"].append(SPLIT_SEEDS[split] + c)
        rec["hand_length_m"].append(s["hand_length_m"])
        rec["keypoints_cam"].append(np.stack([s["kp_cam"][x] for x in pp.SIDES]))
        rec["keypoints_px"].append(np.stack([s["kp_px"][x] for x in pp.SIDES]))
        rec["in_view"].append([s["in_view"][x] for x in pp.SIDES])
        rec["occluded"].append(np.stack([s["occluded"][x] for x in pp.SIDES]))
        rec["hand_px"].append(s["hand_px"])
        log(f"  chunk {c} image {i} {view} {side}: {time.time() - t0:.1f} s")
    buf = io.BytesIO()
    np.savez_compressed(buf, **{k: np.asarray(v) for k, v in rec.items()})
    chunk_path(out, c).parent.mkdir(parents=True, exist_ok=True)
    write_atomic(chunk_path(out, c), buf.getvalue())


def merge_stills(out: Path) -> int:
    """Concatenate the chunk GT files into stills.npz. Returns the number of stills."""
    out = Path(out)
    parts = [dict(np.load(p)) for p in sorted((out / "chunks").glob("chunk_*.npz"))]
    parts = [p for p in parts if len(p["image"])]
    if not parts:
        return 0
    merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    buf = io.BytesIO()
    np.savez_compressed(buf, **merged)
    write_atomic(out / "stills.npz", buf.getvalue())
    return len(merged["image"])


# ------------------------------------------------------------------ clips
def _lerp_arm(a: pp.ArmPose, b: pp.ArmPose, w: float, ang_a, ang_b) -> pp.ArmPose:
    import torch

    u = (1 - w) * a.upper_dir / np.linalg.norm(a.upper_dir) + w * b.upper_dir / np.linalg.norm(b.upper_dir)
    ang = (1 - w) * ang_a + w * ang_b
    hp = angles_to_hand_pose(torch.as_tensor(ang)[None]).to(torch.float64).numpy()[0]
    return pp.ArmPose(upper_dir=u, upper_twist=(1 - w) * a.upper_twist + w * b.upper_twist,
                      elbow=(1 - w) * a.elbow + w * b.elbow,
                      forearm_twist=(1 - w) * a.forearm_twist + w * b.forearm_twist,
                      wrist=(1 - w) * a.wrist + w * b.wrist, hand_pose=hp)


def _near(arm: pp.ArmPose, rng: np.random.Generator) -> pp.ArmPose:
    """An arm pose close to `arm` (upper arm within ~12 degrees, elbow 15, twists 40, wrist 25)."""
    u = arm.upper_dir / np.linalg.norm(arm.upper_dir) + rng.normal(0, 0.12, 3)
    return pp.ArmPose(upper_dir=u, upper_twist=arm.upper_twist + np.radians(rng.uniform(-20, 20)),
                      elbow=arm.elbow + np.radians(rng.uniform(-15, 15)),
                      forearm_twist=arm.forearm_twist + np.radians(rng.uniform(-40, 40)),
                      wrist=arm.wrist + np.radians(rng.uniform(-25, 25, 2)))


def _smooth(t: float) -> float:
    return t * t * (3 - 2 * t)


def clip_motion(person, sides, camera, key_dt, hfov, frames, size, rng, tries: int = 40):
    """Keyframed arm and hand motion and a fixed camera for a clip, retried until every hand is
    in the image on >= 90% of the frames. Returns per-frame posed bodies and the camera."""
    W, H = size
    K = intrinsics(size, hfov)
    ts = np.arange(frames) / CLIP_FPS
    n_keys = int(np.ceil(ts[-1] / key_dt)) + 2
    for _ in range(tries):
        keys = {}
        for s in sides:
            keys[s] = []
            base = pp.sample_arm(rng, s, "front")
            for _k in range(n_keys):
                # seen from the eyes, the hand must stay in a narrow cone: keys near one pose
                arm = _near(base, rng) if camera == "egocentric" else pp.sample_arm(rng, s, "front")
                ang = sample_angles(1, seed=int(rng.integers(2 ** 31 - 1)), named_mix=0.35)[0].numpy()
                keys[s].append((arm, ang))
        posed, kps = [], {s: [] for s in pp.SIDES}
        for t in ts:
            k = int(t // key_dt)
            w = _smooth(t / key_dt - k)
            arms = {s: _lerp_arm(keys[s][k][0], keys[s][k + 1][0], w, keys[s][k][1], keys[s][k + 1][1]) for s in sides}
            for s in pp.SIDES:
                if s not in arms:
                    arms[s] = pp.rest_arm(person, s)
            p = person.forward(person.deltas(arms), vertices=False)
            posed.append(p)
            for s in pp.SIDES:
                kps[s].append(person.keypoints(p, s))
        kps = {s: np.stack(v) for s, v in kps.items()}
        centre = np.mean([kps[s][:, [0, 5, 9, 13, 17]].mean((0, 1)) for s in sides], axis=0)
        L = person.hand_length(sides[0])
        if camera == "egocentric":
            R, eye = pp.camera_for_view("egocentric", kps[sides[0]].mean(0), sides[0], posed[0], person, 0.0, rng)
        else:
            d = K[0, 0] * L / rng.uniform(110, 170)
            view_dir = np.array([rng.uniform(-0.3, 0.3), -1.0, rng.uniform(0.0, 0.4)])
            eye = centre + d * view_dir / np.linalg.norm(view_dir)
            R = pp.look_at(eye, centre, np.array([0, 0, 1.0]))
        kp_c = {s: (kps[s] - eye) @ R.T for s in pp.SIDES}
        px = {s: pp.project(kp_c[s], K) for s in pp.SIDES}
        vis = {s: ((px[s] >= 0) & (px[s] <= np.array([W - 1, H - 1]))).all((1, 2)) & (kp_c[s][..., 2] > 0.05).all(1)
               for s in pp.SIDES}
        ext = np.concatenate([(px[s].max(1) - px[s].min(1)).max(1) for s in sides])
        if all(vis[s].mean() >= 0.9 for s in sides) and 60 <= np.median(ext) <= 260:
            return dict(posed=posed, K=K, R=R, eye=eye, kp_cam=kp_c, kp_px=px, visible=vis, ts=ts)
    raise RuntimeError(f"no clip motion with the hands in view after {tries} tries")


def clip_stem(name: str, variant: int = 0) -> str:
    """File stem of clip `name` of CLIPS: another subject, motion and look per variant."""
    return name if variant == 0 else f"{name}_v{variant}"


def render_clip(split: str, name: str, out: Path, samples: int = 8, threads: int = 2,
                frames: int | None = None, size: tuple[int, int] = (480, 360), log=print, variant: int = 0) -> None:
    """Render clip `name` of CLIPS to out/clips/<clip_stem>.{mp4,gt.npz,calib.json}."""
    import time

    from tools.render_hand_video import calib_json, encode_mp4

    sides, camera, key_dt, hfov = CLIPS[name]
    frames = frames or CLIP_FRAMES
    # subject ids apart from the stills' chunks (< 500) and from the other clips and variants
    c = 500 + sorted(CLIPS).index(name) + 10 * variant
    name = clip_stem(name, variant)
    rng = np.random.default_rng(SPLIT_SEEDS[split] + c)
    person = _subject(split, c, rng)
    skin = sc.random_look(rng, 1).skin[0]
    m = clip_motion(person, sides, camera, key_dt, hfov, frames, size, rng)
    occluded = clip_occlusion(person, m)
    scene, body = new_body_scene(person, rng, size, samples, threads, skin, SPLIT_SEEDS[split] + c)
    look = sc.random_look(rng, 1)
    background = _background(split, size, rng)
    linear, alphas, masks = [], [], []
    hand_faces = {s: person.faces[person.hand_vertex_mask(s)[person.faces].all(1)] for s in pp.SIDES}
    W, H = size
    sc.set_intrinsics(scene.camera, m["K"], size)
    for i, posed in enumerate(m["posed"]):
        t0 = time.time()
        verts = (person.skin(posed["transforms"], np.arange(len(person.rest_vertices))) - m["eye"]) @ m["R"].T
        sc.set_vertices(body, verts)
        if i == 0:
            target = np.mean([m["kp_cam"][s][:, 9].mean(0) for s in sides], axis=0)
            set_lights(scene, look, target)
        img = sc.render_linear(scene, seed=c * 1000 + i)
        mask = np.zeros((H, W), bool)
        for s in sides:  # partly outside the image still counts; behind the camera does not
            if (verts[np.unique(hand_faces[s]), 2] > 0.01).all():
                mask |= sc.hand_mask(verts, hand_faces[s], m["K"], size)
        mask &= img[..., 3] > 0.5
        # too few hand pixels: take the neighbours' exposure (an empty mask would meter the
        # transparent background and blow the frame out)
        masks.append(sc.exposure_for(img, mask, look.exposure_target) if mask.sum() >= 50 else np.nan)
        linear.append(img.astype(np.float16))
        log(f"  clip {name} frame {i + 1}/{frames}: {time.time() - t0:.1f} s")
    logs = np.log(np.array(masks, dtype=float))
    ok = np.isfinite(logs)
    logs = np.interp(np.arange(len(logs)), np.flatnonzero(ok), logs[ok])
    smooth = np.exp(np.convolve(np.pad(logs, 2, mode="edge"), np.ones(5) / 5, mode="valid"))
    images = []
    for img, e in zip(linear, smooth):
        img = img.astype(np.float32)
        a = img[..., 3:4]
        fg = sc.tone_map(img[..., :3] / np.maximum(a, 1e-3), e).astype(np.float32)
        comp = np.clip(np.round(a * fg + (1 - a) * background), 0, 255).astype(np.uint8)
        images.append(degrade(comp, rng))
    d = Path(out) / "clips"
    d.mkdir(parents=True, exist_ok=True)
    encode_mp4(images, CLIP_FPS, d / f"{name}.mp4", int(rng.integers(22, 29)))
    gt = {"K": m["K"], "image_size": np.array(size), "fps": np.float64(CLIP_FPS), "timestamps_s": m["ts"],
          "num_hands": np.int64(len(sides)), "subject": np.int64(SPLIT_SEEDS[split] + c), "view": np.array(camera)}
    for h, s in enumerate(sides):
        gt.update({f"hand{h}_side": np.array(s), f"hand{h}_keypoints_cam": m["kp_cam"][s],
                   f"hand{h}_keypoints_px": m["kp_px"][s], f"hand{h}_occluded": occluded[s],
                   f"hand{h}_visible": m["visible"][s] & (occluded[s].sum(1) <= MAX_HIDDEN),
                   f"hand{h}_length_m": np.float64(person.hand_length(s))})
    buf = io.BytesIO()
    np.savez_compressed(buf, **gt)
    write_atomic(d / f"{name}.calib.json", calib_json(m["K"], size).encode())
    write_atomic(d / f"{name}.gt.npz", buf.getvalue())



def clip_occlusion(person, m: dict) -> dict:
    """{side: (T, 21) bool} keypoints hidden by the rest of the body (arms move freely, so a
    hand can pass behind the other arm or into the torso)."""
    hand_mask = {s: person.hand_vertex_mask(s) for s in pp.SIDES}
    other = {s: person.faces[~hand_mask[s][person.faces].any(1)] for s in pp.SIDES}
    out = {s: np.zeros((len(m["posed"]), 21), bool) for s in pp.SIDES}
    for i, posed in enumerate(m["posed"]):
        verts = (person.skin(posed["transforms"], np.arange(len(person.rest_vertices))) - m["eye"]) @ m["R"].T
        near = verts[:, 2] > 0.01
        for s in pp.SIDES:
            if m["visible"][s][i]:
                out[s][i] = occluded_by_body(verts, other[s][near[other[s]].all(1)], m["kp_cam"][s][i])
    return out


def annotate_clip_occlusion(split: str, name: str, out: Path) -> None:
    """Add hand{h}_occluded to a rendered clip's GT (replaying its motion from the seed, no
    rendering) and clear hand{h}_visible where more than MAX_HIDDEN keypoints are hidden."""
    sides, camera, key_dt, hfov = CLIPS[name]
    path = Path(out) / "clips" / f"{name}.gt.npz"
    gt = dict(np.load(path))
    c = 500 + sorted(CLIPS).index(name)
    rng = np.random.default_rng(SPLIT_SEEDS[split] + c)
    person = _subject(split, c, rng)
    sc.random_look(rng, 1)
    m = clip_motion(person, sides, camera, key_dt, hfov, len(gt["timestamps_s"]), tuple(gt["image_size"]), rng)
    if not np.allclose(m["kp_cam"][sides[0]], gt["hand0_keypoints_cam"]):
        raise RuntimeError(f"{path}: the replayed motion differs from the rendered one")
    occ = clip_occlusion(person, m)
    for h, s in enumerate(sides):
        gt[f"hand{h}_occluded"] = occ[s]
        gt[f"hand{h}_visible"] = m["visible"][s] & (occ[s].sum(1) <= MAX_HIDDEN)
    buf = io.BytesIO()
    np.savez_compressed(buf, **gt)
    write_atomic(path, buf.getvalue())
