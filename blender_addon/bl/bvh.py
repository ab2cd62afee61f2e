"""BVH of the captured hands through Blender's own BVH exporter (io_anim_bvh).

BVH has one skeleton a file, no bone orientations and Y up. Imported hand armatures live in
the camera frame (OpenCV, y down), so each is exported from a temporary copy whose armature
space is turned to y up, z towards the camera: Blender's BVH importer with its default
axes (-Z forward, Y up) then puts the hand back exactly where it was.
"""
from __future__ import annotations

import os
from pathlib import Path

import bpy
from mathutils import Matrix

# OpenCV camera axes -> BVH axes (x right, y up, z towards the camera)
CAMERA_TO_BVH = Matrix.Diagonal((1.0, -1.0, -1.0, 1.0))
UNITS = {"M": 1.0, "CM": 100.0}


def bvh_paths(path, armatures) -> list[Path]:
    """One file per armature: `path` itself for one hand, else NAME_right.bvh, NAME_left.bvh
    (NAME_t<track>_<side>.bvh when two tracks share a side)."""
    path = Path(path)
    if len(armatures) == 1:
        return [path]
    sides = [a.get("handmocap_side", "hand") for a in armatures]
    names = [f"{path.stem}_{s}" if sides.count(s) == 1 else f"{path.stem}_t{a.get('handmocap_track', k)}_{s}"
             for k, (a, s) in enumerate(zip(armatures, sides))]
    return [path.with_name(n + path.suffix) for n in names]


def export_hand_bvh(path, armatures, units: str = "CM", frame_start: int | None = None,
                    frame_end: int | None = None) -> list[Path]:
    """Write each hand armature's animation (scene frame range by default) to BVH,
    atomically. Returns the written paths."""
    if units not in UNITS:
        raise ValueError(f"unknown BVH units '{units}' (use {', '.join(UNITS)})")
    scene = bpy.context.scene
    f0 = scene.frame_start if frame_start is None else frame_start
    f1 = scene.frame_end if frame_end is None else frame_end
    view_layer = bpy.context.view_layer
    written = []
    for arm, out in zip(armatures, bvh_paths(path, armatures)):
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.partial.bvh")
        copy = arm.copy()
        copy.data = arm.data.copy()
        copy.data.transform(CAMERA_TO_BVH)  # rest turned: the pose follows, channels unchanged
        scene.collection.objects.link(copy)
        prev = view_layer.objects.active
        try:
            view_layer.objects.active = copy
            result = bpy.ops.export_anim.bvh(filepath=str(tmp), global_scale=UNITS[units], frame_start=f0,
                                             frame_end=f1, rotate_mode="NATIVE", root_transform_only=True)
            if "FINISHED" not in result or not tmp.is_file():
                raise OSError(f"{out}: Blender's BVH exporter failed")
            os.replace(tmp, out)
            written.append(out)
        finally:
            view_layer.objects.active = prev
            data = copy.data
            bpy.data.objects.remove(copy)
            bpy.data.armatures.remove(data)
            if tmp.exists():
                tmp.unlink()
    return written
