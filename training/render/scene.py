"""Blender (bpy, Cycles on CPU) scene for rendering hand meshes given in OpenCV camera space.

The Blender camera sits at the world origin with rotation diag(1, -1, -1) (Blender cameras look
down their -Z with +Y up), so Blender world coordinates *are* OpenCV camera coordinates (x right,
y down, z forward, metres): posed hand vertices go in unchanged. The lens comes from K (fx = fy;
the principal point through lens shift).

Recipe (measured, see design.md): Cycles CPU, ~24 samples + OpenImageDenoise, linear EXR out,
exposure and tone mapping in numpy on the hand's pixels (Blender's AgX greys skin out),
subsurface skin with varied tones, a few weak coloured lights, a non-skin background.
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import bpy
import cv2
import numpy as np
from mathutils import Vector


@dataclass(frozen=True)
class Look:
    """Random appearance of one video: skin, lights, background, exposure.

    Attributes:
        skin: (H, 3) linear RGB base colour per hand.
        lights: list of (position (3,) camera frame metres, colour (3,), power W, size m).
        ambient: (3,) linear world colour.
        background: two (3,) linear colours of the backdrop gradient and its noise scale.
        exposure_target: median linear luminance the hand pixels are scaled to.
    """

    skin: np.ndarray
    lights: list
    ambient: np.ndarray
    background: tuple
    exposure_target: float


_SKIN_TONES = np.array([  # linear RGB, light to dark
    [0.74, 0.44, 0.32], [0.66, 0.37, 0.25], [0.55, 0.30, 0.19],
    [0.42, 0.22, 0.13], [0.28, 0.14, 0.08], [0.16, 0.08, 0.05]])


def _hsv_to_linear(h: float, s: float, v: float) -> np.ndarray:
    rgb = cv2.cvtColor(np.float32([[[h * 360.0, s, v]]]), cv2.COLOR_HSV2RGB)[0, 0]
    return np.power(rgb.astype(np.float64), 2.2)


def random_look(rng: np.random.Generator, num_hands: int = 1) -> Look:
    """Draw a look: skin tones between the table's entries, 2-3 coloured lights, a backdrop
    whose hue keeps clear of skin (greens to violets, or greys)."""
    skins = []
    for _ in range(num_hands):
        a = rng.uniform(0, len(_SKIN_TONES) - 1)
        i = int(a)
        j = min(i + 1, len(_SKIN_TONES) - 1)
        skins.append(_SKIN_TONES[i] + (a - i) * (_SKIN_TONES[j] - _SKIN_TONES[i]))
    lights = []
    for k in range(int(rng.integers(2, 4))):
        # key light from the front-upper side, the others weaker from anywhere in front
        pos = np.array([rng.uniform(-0.6, 0.6), rng.uniform(-0.7, 0.1), rng.uniform(-0.3, 0.2)])
        tint = _hsv_to_linear(rng.uniform(0, 1), rng.uniform(0.05, 0.3), 1.0)
        power = (30.0 if k == 0 else 10.0) * rng.uniform(0.6, 1.4)
        lights.append((pos, tint, power, rng.uniform(0.2, 0.6)))
    ambient = _hsv_to_linear(rng.uniform(0, 1), rng.uniform(0.0, 0.15), rng.uniform(0.15, 0.35))
    if rng.uniform() < 0.25:
        c1 = _hsv_to_linear(0.0, 0.0, rng.uniform(0.3, 0.8))
        c2 = _hsv_to_linear(0.0, 0.0, rng.uniform(0.2, 0.7))
    else:
        hue = rng.uniform(0.25, 0.8)  # 90-290 degrees: greens, cyans, blues, violets
        c1 = _hsv_to_linear(hue, rng.uniform(0.2, 0.6), rng.uniform(0.35, 0.8))
        c2 = _hsv_to_linear(hue + rng.uniform(-0.08, 0.08), rng.uniform(0.1, 0.5), rng.uniform(0.15, 0.6))
    return Look(skin=np.stack(skins), lights=lights, ambient=ambient,
                background=(c1, c2, float(rng.uniform(3.0, 12.0))),
                exposure_target=float(rng.uniform(0.22, 0.34)))


def new_scene(K: np.ndarray, size: tuple[int, int], samples: int = 24, threads: int = 2,
              denoise: bool = True) -> bpy.types.Scene:
    """Empty factory scene with Cycles CPU and a camera whose frame is OpenCV's world frame.

    Args:
        K: (3, 3) intrinsics, pixels (pixel-centre convention), fx == fy.
        size: (W, H) pixels.
    """
    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    W, H = size
    r = scene.render
    r.engine = "CYCLES"
    r.resolution_x, r.resolution_y, r.resolution_percentage = W, H, 100
    r.pixel_aspect_x = r.pixel_aspect_y = 1.0
    r.threads_mode, r.threads = "FIXED", threads
    r.use_persistent_data = True
    r.image_settings.file_format = "OPEN_EXR"
    r.image_settings.color_depth = "32"
    r.image_settings.color_mode = "RGBA"
    scene.view_settings.view_transform = "Standard"
    c = scene.cycles
    c.device = "CPU"
    c.samples = samples
    c.use_adaptive_sampling = True
    c.use_denoising = denoise
    c.denoiser = "OPENIMAGEDENOISE"
    c.max_bounces, c.diffuse_bounces, c.glossy_bounces = 4, 2, 1
    c.transmission_bounces = c.transparent_max_bounces = 2
    c.use_auto_tile = False
    scene.world = bpy.data.worlds.new("world")

    cam = bpy.data.cameras.new("camera")
    cam.sensor_fit = "HORIZONTAL" if W >= H else "VERTICAL"
    cam.sensor_width = cam.sensor_height = 36.0
    cam.clip_start, cam.clip_end = 0.01, 100.0
    obj = bpy.data.objects.new("camera", cam)
    scene.collection.objects.link(obj)
    obj.rotation_euler = (np.pi, 0.0, 0.0)  # diag(1, -1, -1): Blender camera frame -> OpenCV
    scene.camera = obj
    set_intrinsics(obj, K, size)
    return scene


def set_intrinsics(cam_obj: bpy.types.Object, K: np.ndarray, size: tuple[int, int]) -> None:
    """Lens and shift from K (3, 3) pixels for an image of size (W, H).

    Blender's shift is a fraction of the larger image side; the image centre in pixel-centre
    coordinates is ((W - 1) / 2, (H - 1) / 2). A principal point right of centre needs a
    negative shift_x (the sensor moves left), one below centre a positive shift_y.
    """
    W, H = size
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    if abs(fx - fy) > 1e-6 * fx:
        raise ValueError(f"Blender camera needs square pixels, got fx={fx} fy={fy}")
    cam = cam_obj.data
    side = max(W, H)
    cam.lens = fx * cam.sensor_width / side
    cam.shift_x = -(cx - (W - 1) / 2) / side
    cam.shift_y = (cy - (H - 1) / 2) / side


def _skin_material(name: str, colour: np.ndarray, seed: int) -> bpy.types.Material:
    """Principled BSDF with random-walk subsurface and a faint mottled albedo."""
    mat = bpy.data.materials.new(name)
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    noise = nodes.new("ShaderNodeTexNoise")
    noise.inputs["Scale"].default_value = 180.0 + 40.0 * (seed % 5)
    noise.inputs["Detail"].default_value = 4.0
    mix = nodes.new("ShaderNodeMix")
    mix.data_type = "RGBA"
    mix.inputs["Factor"].default_value = 0.12
    c = tuple(float(v) for v in colour) + (1.0,)
    mix.inputs["A"].default_value = c
    mix.inputs["B"].default_value = tuple(0.8 * v for v in c[:3]) + (1.0,)
    links.new(noise.outputs["Fac"], mix.inputs["Factor"])
    links.new(mix.outputs["Result"], bsdf.inputs["Base Color"])
    bsdf.inputs["Roughness"].default_value = 0.55
    bsdf.inputs["Subsurface Weight"].default_value = 0.35
    bsdf.inputs["Subsurface Radius"].default_value = (1.0, 0.35, 0.2)
    bsdf.inputs["Subsurface Scale"].default_value = 0.004  # metres: a few mm of scattering
    bsdf.inputs["Specular IOR Level"].default_value = 0.35
    return mat


def add_hand(scene: bpy.types.Scene, name: str, vertices: np.ndarray, faces: np.ndarray,
             skin: np.ndarray, seed: int = 0, subdivide: int = 1) -> bpy.types.Object:
    """A smooth-shaded hand mesh. vertices: (V, 3) metres, camera frame; faces: (F, 3)."""
    mesh = bpy.data.meshes.new(name)
    mesh.from_pydata(vertices.tolist(), [], faces.tolist())
    mesh.shade_smooth()
    mesh.materials.append(_skin_material(name + "_skin", skin, seed))
    obj = bpy.data.objects.new(name, mesh)
    scene.collection.objects.link(obj)
    if subdivide:
        # looks only: level 1 moves the surface by well under a millimetre
        mod = obj.modifiers.new("subsurf", "SUBSURF")
        mod.levels = mod.render_levels = subdivide
    return obj


def set_vertices(obj: bpy.types.Object, vertices: np.ndarray) -> None:
    """Move a mesh made by `add_hand` to new (V, 3) camera-frame positions, metres."""
    obj.data.vertices.foreach_set("co", np.ascontiguousarray(vertices, dtype=np.float32).ravel())
    obj.data.update()


def add_lights(scene: bpy.types.Scene, look: Look) -> None:
    """Area lights aimed at the scene centre and the world's ambient colour."""
    target = np.array([0.0, 0.0, 0.5])
    for k, (pos, colour, power, size) in enumerate(look.lights):
        light = bpy.data.lights.new(f"light{k}", "AREA")
        light.energy, light.size = power, size
        light.color = tuple(float(v) for v in colour)
        obj = bpy.data.objects.new(f"light{k}", light)
        scene.collection.objects.link(obj)
        obj.location = tuple(float(v) for v in pos)
        # area lights shine down their -Z: point it at the target
        d = target - pos
        obj.rotation_mode = "QUATERNION"
        obj.rotation_quaternion = Vector(tuple(-d)).to_track_quat("Z", "Y")
    bg = scene.world.node_tree.nodes["Background"]
    bg.inputs["Color"].default_value = tuple(float(v) for v in look.ambient) + (1.0,)
    bg.inputs["Strength"].default_value = 1.0


def add_backdrop(scene: bpy.types.Scene, look: Look, K: np.ndarray, size: tuple[int, int],
                 depth: float = 1.2) -> bpy.types.Object:
    """A plane facing the camera at `depth` metres covering the view: a two-colour gradient
    broken up by noise, so the background is textured but never skin-coloured."""
    W, H = size
    half = 1.3 * depth * max(W, H) / K[0, 0]
    mesh = bpy.data.meshes.new("backdrop")
    mesh.from_pydata([(-half, -half, depth), (half, -half, depth), (half, half, depth), (-half, half, depth)],
                     [], [(0, 1, 2, 3)])
    mesh.uv_layers.new()
    obj = bpy.data.objects.new("backdrop", mesh)
    scene.collection.objects.link(obj)
    mat = bpy.data.materials.new("backdrop")
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    bsdf = nodes["Principled BSDF"]
    bsdf.inputs["Roughness"].default_value = 0.9
    coord = nodes.new("ShaderNodeTexCoord")
    noise = nodes.new("ShaderNodeTexNoise")
    c1, c2, scale = look.background
    noise.inputs["Scale"].default_value = scale
    noise.inputs["Detail"].default_value = 6.0
    ramp = nodes.new("ShaderNodeValToRGB")
    ramp.color_ramp.elements[0].color = tuple(float(v) for v in c1) + (1.0,)
    ramp.color_ramp.elements[1].color = tuple(float(v) for v in c2) + (1.0,)
    sep = nodes.new("ShaderNodeSeparateXYZ")
    mixv = nodes.new("ShaderNodeMix")
    mixv.inputs["Factor"].default_value = 0.5
    links.new(coord.outputs["UV"], noise.inputs["Vector"])
    links.new(coord.outputs["UV"], sep.inputs["Vector"])
    links.new(sep.outputs["Y"], mixv.inputs["A"])
    links.new(noise.outputs["Fac"], mixv.inputs["B"])
    links.new(mixv.outputs["Result"], ramp.inputs["Fac"])
    links.new(ramp.outputs["Color"], bsdf.inputs["Base Color"])
    mesh.materials.append(mat)
    return obj


def render_linear(scene: bpy.types.Scene, seed: int = 0) -> np.ndarray:
    """Render the current scene. Returns (H, W, 4) float32 linear RGBA, row 0 at the top."""
    scene.cycles.seed = seed
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "frame.exr")
        scene.render.filepath = path
        bpy.ops.render.render(write_still=True)
        img = bpy.data.images.load(path)
        w, h = img.size
        px = np.empty(w * h * 4, dtype=np.float32)
        img.pixels.foreach_get(px)
        bpy.data.images.remove(img)
    return px.reshape(h, w, 4)[::-1].copy()


def hand_mask(vertices_cam: np.ndarray, faces: np.ndarray, K: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Silhouette of a mesh: (H, W) bool, pixels whose centre a projected triangle covers.

    vertices_cam: (V, 3) metres, camera frame (all in front of the camera); faces: (F, 3).
    """
    W, H = size
    p = vertices_cam @ np.asarray(K).T
    uv = p[:, :2] / p[:, 2:3]
    mask = np.zeros((H, W), np.uint8)
    # cv2 fills with 4 fractional bits: pixel centres are the integer coordinates. One call
    # per triangle: fillPoly on all of them at once uses even-odd parity where they overlap.
    tris = np.round(uv[faces] * 16).astype(np.int32)
    for tri in tris:
        cv2.fillConvexPoly(mask, tri, 1, lineType=cv2.LINE_8, shift=4)
    return mask.astype(bool)


def _srgb(x: np.ndarray) -> np.ndarray:
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(np.maximum(x, 1e-8), 1 / 2.4) - 0.055)


def exposure_for(linear_rgb: np.ndarray, mask: np.ndarray, target: float) -> float:
    """Scale that brings the median luminance of the masked pixels to `target` (linear)."""
    lum = linear_rgb[..., :3] @ np.array([0.2126, 0.7152, 0.0722])
    vals = lum[mask] if mask.any() else lum.ravel()
    return float(target / max(np.median(vals), 1e-6))


def tone_map(linear_rgb: np.ndarray, exposure: float) -> np.ndarray:
    """Linear (H, W, >=3) -> sRGB uint8 (H, W, 3): exposure, a soft shoulder above 0.8, sRGB."""
    x = np.maximum(linear_rgb[..., :3] * exposure, 0.0)
    knee = 0.8
    x = np.where(x < knee, x, knee + (1 - knee) * (1 - np.exp(-(x - knee) / (1 - knee))))
    return np.clip(np.round(_srgb(x) * 255.0), 0, 255).astype(np.uint8)
