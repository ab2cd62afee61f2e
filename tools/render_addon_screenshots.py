"""Render the README's Blender screenshots headless (Workbench): `python tools/render_addon_screenshots.py`.

docs/img/blender_import.png    a synthetic two-hand motion imported with the add-on, seen
                               through the imported camera (closing hands, three frames)
docs/img/blender_retarget.png  the right hand retargeted onto a Mixamo-style rig (bones
                               drawn as cones) with another rest pose, size and bone rolls
docs/img/blender_rigify.png    the right hand retargeted (with "Wrist too") onto the rig
                               Rigify generates from its Human metarig, arm in IK mode: the
                               captured hand beside the rig's deform hand bones (cones),
                               half-closed and closed
Uses the add-on from the source tree and the test suite's synthetic motion and test rig.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "img"


def _setup_render(scene, w=480, h=360):
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "OBJECT"
    scene.display.shading.show_shadows = False
    scene.render.resolution_x, scene.render.resolution_y = w, h
    scene.render.resolution_percentage = 100
    scene.render.image_settings.file_format = "PNG"
    scene.render.image_settings.color_mode = "RGB"
    scene.render.image_settings.compression = 100
    scene.world = scene.world or __import__("bpy").data.worlds.new("World")
    scene.world.color = (0.16, 0.17, 0.19)


def _render(scene, path: Path, frame: int) -> np.ndarray:
    import bpy

    scene.frame_set(frame)
    scene.render.filepath = str(path)
    bpy.ops.render.render(write_still=True)
    img = bpy.data.images.load(str(path))
    px = np.array(img.pixels[:]).reshape(img.size[1], img.size[0], 4)[::-1, :, :3]
    bpy.data.images.remove(img)
    return px


def _save_strip(panels, path: Path) -> None:
    import bpy

    strip = np.concatenate(panels, 1)
    h, w = strip.shape[:2]
    img = bpy.data.images.new(path.stem, w, h)
    rgba = np.concatenate([strip[::-1], np.ones((h, w, 1))], 2)
    img.pixels.foreach_set(rgba.astype(np.float32).ravel())
    img.filepath_raw = str(path)
    img.file_format = "PNG"
    img.save()


def _cone_mesh(rig, keep=lambda name: name != "forearm"):
    """Draw a rig's bones: one cone per bone (head to tail), skinned rigidly to its bone."""
    import bpy

    verts, faces, groups = [], [], []
    for bone in rig.data.bones:
        if not keep(bone.name):
            continue
        m = np.array(bone.matrix_local)
        r, n0 = 0.15 * bone.length, len(verts)
        ring = [(r * np.cos(a), 0.0, r * np.sin(a)) for a in np.linspace(0, 2 * np.pi, 8, endpoint=False)]
        for p in [*ring, (0.0, bone.length, 0.0)]:
            verts.append((m @ np.array([*p, 1.0]))[:3])
        faces += [(n0 + i, n0 + (i + 1) % 8, n0 + 8) for i in range(8)] + [tuple(range(n0 + 7, n0 - 1, -1))]
        groups.append((bone.name, list(range(n0, n0 + 9))))
    me = bpy.data.meshes.new("bones")
    me.from_pydata([list(v) for v in verts], [], faces)
    obj = bpy.data.objects.new("bones", me)
    bpy.context.scene.collection.objects.link(obj)
    for name, ids in groups:
        obj.vertex_groups.new(name=name).add(ids, 1.0, "REPLACE")
    obj.modifiers.new("Armature", "ARMATURE").object = rig
    obj.parent = rig
    obj.color = (0.95, 0.8, 0.3, 1)
    return obj


def _rigify_strip(tmp: Path, motion_path: Path) -> None:
    """Generate Rigify's human rig, retarget the right hand onto it (IK arm, wrist too) and
    render the captured hand (its camera) beside the rig's hand (a camera turned the same
    way, framing the rig's hand)."""
    import bpy
    from mathutils import Vector
    from handmocap.export.fbx import load_addon_package

    addon = load_addon_package()
    build = __import__(addon.__name__ + ".bl.build", fromlist=["x"])
    retarget = __import__(addon.__name__ + ".bl.retarget", fromlist=["x"])
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.ops.preferences.addon_enable(module="rigify")
    bpy.ops.object.armature_human_metarig_add()
    meta = bpy.context.active_object
    bpy.ops.pose.rigify_generate()
    rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not meta)
    scene = bpy.context.scene
    _, arms = build.import_motion(motion_path, scene)
    src = arms[0]
    retarget.retarget(scene, src, rig, "rigify", transfer_wrist=True)
    is_hand = lambda n: n.startswith(("DEF-f_", "DEF-thumb", "DEF-palm", "DEF-hand")) and n.endswith(".R")  # noqa: E731
    cones = _cone_mesh(rig, is_hand)
    src.children[0].color = (0.9, 0.62, 0.5, 1)
    shown = {cones, src.children[0]}
    for obj in scene.objects:
        obj.hide_render = obj not in shown
    _setup_render(scene, 280, 280)
    scene.render.pixel_aspect_y = 1.0
    cams = {}
    for key in ("src", "rig"):
        cams[key] = bpy.data.objects.new(key, bpy.data.cameras.new(key))
        cams[key].data.type = "ORTHO"
        scene.collection.objects.link(cams[key])
    bones = {"src": (src, ("wrist.R", "index1.R", "middle1.R", "pinky1.R")),
             "rig": (rig, ("DEF-hand.R", "DEF-f_index.01.R", "DEF-f_middle.01.R", "DEF-f_pinky.01.R"))}
    meshes = {"src": src.children[0], "rig": cones}
    panels = []
    for f in (7, 13):
        scene.frame_set(f)
        for key, (obj, names) in bones.items():
            # the same view in each hand's own frame: from the palm side, towards the thumb
            w, i, m, p = (np.array(obj.matrix_world @ obj.pose.bones[n].head) for n in names)
            y = (m - w) / np.linalg.norm(m - w)
            z = np.cross(i - w, p - w)
            z = z - z @ y * y
            z /= np.linalg.norm(z)
            x = np.cross(y, z)
            size = 2.4 * np.linalg.norm(m - w)  # the same at every frame
            view = 0.55 * z - 0.85 * x
            cam = cams[key]
            cam.data.ortho_scale = 1.15 * size
            cam.location = Vector(w + 0.3 * size * y + 3 * size * view)
            cam.rotation_euler = Vector(-view).to_track_quat("-Z", "Y").to_euler()
            cam.data.clip_end = 10 * size
            for k2, mesh in meshes.items():
                mesh.hide_render = k2 != key
            scene.camera = cam
            panels.append(_render(scene, tmp / f"rigify_{key}_{f}.png", f))
    _save_strip(panels, OUT / "blender_rigify.png")


def main() -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "tests" / "blender"))
    sys.path.insert(0, str(ROOT / "tests"))  # first: tests/conftest.py, not tests/blender's
    import bpy
    from conftest import synthetic_motion
    from mathutils import Vector
    from handmocap.export.fbx import load_addon_package
    from handmocap.motion import save_motion

    addon = load_addon_package()
    build = __import__(addon.__name__ + ".bl.build", fromlist=["x"])
    retarget = __import__(addon.__name__ + ".bl.retarget", fromlist=["x"])
    OUT.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp())
    path = save_motion(synthetic_motion(), tmp / "demo")

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    _, arms = build.import_motion(path, scene)
    _setup_render(scene, 300, 225)
    for arm, colour in zip(arms, ((0.9, 0.62, 0.5, 1), (0.55, 0.7, 0.95, 1))):
        arm.children[0].color = colour
    panels = [_render(scene, tmp / f"imp{f}.png", f) for f in (1, 7, 13)]
    _save_strip(panels, OUT / "blender_import.png")

    from test_retarget import build_rig

    src = arms[0]
    tgt, _ = build_rig("mixamo", src, "right")
    retarget.retarget(scene, src, tgt, "mixamo")
    _cone_mesh(tgt)
    arms[1].hide_render = True
    for c in arms[1].children:
        c.hide_render = True
    hand_cam = scene.camera
    rig_cam = bpy.data.objects.new("shot", bpy.data.cameras.new("shot"))
    scene.collection.objects.link(rig_cam)
    _setup_render(scene, 240, 240)
    scene.render.pixel_aspect_y = 1.0
    panels = []
    for f in (1, 13):
        scene.frame_set(f)
        # the captured hand through its camera, then the rig from a camera facing its palm
        tgt.hide_render, src.children[0].hide_render = True, False
        scene.camera = hand_cam
        panels.append(_render(scene, tmp / f"src{f}.png", f))
        tgt.hide_render, src.children[0].hide_render = False, True
        heads = np.array([np.array(tgt.matrix_world @ pb.head) for pb in tgt.pose.bones if pb.name != "forearm"])
        centre = heads.mean(0)
        w, i, p = (np.array(tgt.matrix_world @ tgt.pose.bones[f"mixamorig:RightHand{n}"].head)
                   for n in ("", "Index1", "Pinky1"))
        normal = np.cross(i - w, p - w)
        rig_cam.location = centre + 0.5 * normal / np.linalg.norm(normal)
        rig_cam.rotation_euler = Vector(centre - np.array(rig_cam.location)).to_track_quat("-Z", "Y").to_euler()
        scene.camera = rig_cam
        panels.append(_render(scene, tmp / f"rt{f}.png", f))
    _save_strip(panels, OUT / "blender_retarget.png")
    _rigify_strip(tmp, path)
    for p in sorted(OUT.glob("blender_*.png")):
        print(p, p.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
