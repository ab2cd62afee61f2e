"""Build a motion into the scene: one collection per track (armature + skinned mesh +
keyframes), a camera with the video's intrinsics and the video as its background, and the
scene's frame rate and range."""
from __future__ import annotations

from pathlib import Path

import bpy
import numpy as np
from mathutils import Matrix, Vector

from ..core.hand_model import MANO_JOINT_NAMES, MANO_PARENTS, load_rig_asset, shaped_rest
from ..core.motion_reader import MotionData, TrackData, read_motion
from ..core.skeleton import bone_names, bone_rest, pose_to_bone_basis
from .anim import assign_new_action, set_keys
from .axes import camera_object_matrix, camera_to_world


def import_motion(path, scene=None, hand_model_path=None, frame_offset: int = 1,
                  with_mesh: bool = True, with_camera: bool = True, video_background: bool = True,
                  motion: MotionData | None = None, hand_arrays: dict | None = None):
    """Read a motion file and build it into `scene`. Returns (root collection, [armatures]).

    Video frame f lands on scene frame f + frame_offset. Raises MotionFileError /
    HandModelError (str() is one line naming the file) on bad input.
    """
    scene = scene or bpy.context.scene
    motion = motion or read_motion(path)
    stem = Path(motion.path).name.replace(".motion.npz", "").replace(".npz", "")
    root = bpy.data.collections.new(f"HandMotion {stem}")
    scene.collection.children.link(root)
    armatures = []
    for track in motion.tracks:
        if len(track) == 0:
            continue
        coll = bpy.data.collections.new(f"{stem} track{track.track_id} {track.side}")
        root.children.link(coll)
        asset = load_rig_asset(hand_model_path, track.side, arrays=hand_arrays)
        arm = build_track(track, asset, coll, scene, frame_offset, with_mesh, f"{stem}_t{track.track_id}")
        arm["handmocap_motion"] = str(motion.path)
        arm["handmocap_model_match"] = int(asset.model_id.replace("-mirror", "") ==
                                           motion.hand_model_id.replace("-mirror", ""))
        armatures.append(arm)
    if with_camera:
        build_camera(motion, root, scene, frame_offset, video_background)
    set_scene_timing(scene, motion, frame_offset)
    return root, armatures


def set_scene_timing(scene, motion: MotionData, frame_offset: int) -> None:
    """Scene fps = the video's (fps_base carries fractional rates such as 29.97); frame range
    = the video's frames shifted by frame_offset."""
    fps = max(motion.fps, 1e-3)
    scene.render.fps = max(1, int(round(fps)))
    scene.render.fps_base = scene.render.fps / fps
    scene.frame_start = frame_offset
    scene.frame_end = frame_offset + max(motion.num_frames, 1) - 1


def _link(coll, obj):
    coll.objects.link(obj)
    return obj


def build_armature(name: str, side: str, heads, tails, rest_rot, coll, scene):
    """Armature object (armature space = camera frame) with one bone per MANO joint.
    Returns (object, rest rotations (16, 3, 3) as Blender stored them)."""
    data = bpy.data.armatures.new(name)
    obj = _link(coll, bpy.data.objects.new(name, data))
    obj.matrix_world = camera_to_world()
    names = bone_names(side)
    view_layer = bpy.context.view_layer
    prev = view_layer.objects.active
    view_layer.objects.active = obj
    bpy.ops.object.mode_set(mode="EDIT")
    try:
        for j, bname in enumerate(names):
            eb = data.edit_bones.new(bname)
            eb.head = Vector(heads[j])
            eb.tail = Vector(tails[j])
            eb.align_roll(Vector(rest_rot[j][:, 2]))  # bone Z out of the palm (X = flexion)
            if MANO_PARENTS[j] >= 0:
                eb.parent = data.edit_bones[names[MANO_PARENTS[j]]]
    finally:
        bpy.ops.object.mode_set(mode="OBJECT")
        view_layer.objects.active = prev
    rest = np.array([[list(r) for r in data.bones[n].matrix_local.to_3x3()] for n in names])
    obj["handmocap_side"] = side
    return obj, rest


def build_mesh(name: str, verts, faces, weights, side: str, arm_obj, coll):
    """Skinned hand mesh (rest shape, camera frame) parented to the armature."""
    me = bpy.data.meshes.new(name)
    me.from_pydata(np.asarray(verts).tolist(), [], np.asarray(faces).tolist())
    me.polygons.foreach_set("use_smooth", [True] * len(me.polygons))
    me.update()
    obj = _link(coll, bpy.data.objects.new(name, me))
    names = bone_names(side)
    for j, bname in enumerate(names):
        vg = obj.vertex_groups.new(name=bname)
        w = weights[:, j]
        for value in np.unique(w[w > 1e-6]):
            vg.add(np.flatnonzero(w == value).tolist(), float(value), "REPLACE")
    mod = obj.modifiers.new("Armature", "ARMATURE")
    mod.object = arm_obj
    obj.parent = arm_obj
    obj.matrix_parent_inverse = Matrix.Identity(4)
    return obj


def build_track(track: TrackData, asset, coll, scene, frame_offset: int, with_mesh: bool, name: str):
    """Armature (+ mesh) of one track, keyframed: rotations on every bone, the wrist's
    camera-space location on the root. Returns the armature object."""
    verts, joints, tips = shaped_rest(asset, track.betas)
    heads, tails, rest_rot = bone_rest(joints, tips, track.side)
    arm, rest = build_armature(name, track.side, heads, tails, rest_rot, coll, scene)
    arm["handmocap_track"] = int(track.track_id)
    if with_mesh:
        build_mesh(name + "_mesh", verts, asset.faces, asset.weights, track.side, arm, coll)
    quats, loc = pose_to_bone_basis(track.global_orient, track.hand_pose, track.transl, rest)
    frames = np.asarray(track.frame_index, np.float64) + frame_offset
    action = assign_new_action(arm, name + "_action")
    names = bone_names(track.side)
    for j, bname in enumerate(names):
        pb = arm.pose.bones[bname]
        pb.rotation_mode = "QUATERNION"
        set_keys(action, arm, f'pose.bones["{bname}"].rotation_quaternion', frames, quats[:, j], bname)
    set_keys(action, arm, f'pose.bones["{names[0]}"].location', frames, loc, names[0])
    return arm


def build_camera(motion: MotionData, coll, scene, frame_offset: int, video_background: bool):
    """Camera at the origin with the motion's intrinsics (sensor fit AUTO: lens shift is a
    fraction of the larger image side); the video as background when the file exists."""
    W, H = motion.image_size
    K = motion.K
    cam = bpy.data.cameras.new("HandMotion camera")
    cam.sensor_fit = "AUTO"
    cam.sensor_width = 36.0
    side = max(W, H)
    cam.lens = K[0, 0] * cam.sensor_width / side
    # principal point (pixel centres) -> shift; positive shift_x moves the principal point left
    cam.shift_x = ((W - 1) / 2 - K[0, 2]) / side
    cam.shift_y = (K[1, 2] - (H - 1) / 2) / side
    cam.clip_start = 0.01
    cam.clip_end = 100.0
    obj = _link(coll, bpy.data.objects.new("HandMotion camera", cam))
    obj.matrix_world = camera_object_matrix()
    scene.camera = obj
    scene.render.resolution_x, scene.render.resolution_y = int(W), int(H)
    scene.render.resolution_percentage = 100
    fy = K[1, 1] if K[1, 1] > 0 else K[0, 0]
    scene.render.pixel_aspect_x, scene.render.pixel_aspect_y = 1.0, float(K[0, 0] / fy)
    src = motion.source_file()
    if video_background and src is not None:
        img = bpy.data.images.load(str(src), check_existing=True)
        img.source = "MOVIE" if src.suffix.lower() not in (".png", ".jpg", ".jpeg") else img.source
        bg = cam.background_images.new()
        bg.image = img
        bg.image_user.frame_start = frame_offset
        bg.image_user.frame_duration = max(motion.num_frames, 1)
        bg.alpha = 1.0
        cam.show_background_images = True
    return obj


__all__ = ["import_motion", "build_track", "build_camera", "build_armature", "build_mesh",
           "set_scene_timing", "MANO_JOINT_NAMES"]
