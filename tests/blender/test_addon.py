"""The Blender add-on, headless with the bpy module: installed and enabled from its built
zip, motion import checked against the motion's own camera-space keypoints."""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
import build_addon  # noqa: E402

from blender_addon.core.hand_model import MANO_TO_KEYPOINTS  # noqa: E402  (bpy-free, no torch)

# one worker runs every bpy test in order: bpy state (preferences, add-ons) is per process
pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
POSITION_TOL_M = 1e-3  # bone heads/tails vs the motion's keypoints_cam: 1 mm
# OpenCV camera (x right, y down, z forward) -> Blender world (Z up, camera looks down +Y)
CV_TO_WORLD = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])
JOINT_KEYPOINT = [MANO_TO_KEYPOINTS.index(j) for j in range(16)]  # keypoint of each MANO joint
DISTAL = (15, 3, 6, 12, 9)  # MANO distal joints in fingertip (thumb..pinky) order
FINGERTIP_KEYPOINTS = (4, 8, 12, 16, 20)


def rewrite_meta(npz: Path, out: Path, **changes) -> Path:
    """Copy of a motion file with metadata keys changed (numpy only: these tests also run
    where the handmocap package is not installed)."""
    with np.load(npz) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta_json"]))
    meta.update(changes)
    data["meta_json"] = np.asarray(json.dumps(meta))
    np.savez(out, **data)
    return out


def install_addon(tmp_dir: Path) -> str:
    """Build the zip, install + enable it into a throwaway extension repo; returns the
    add-on's module name. Preferences are never saved, so ~/.config stays untouched."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    bpy.context.preferences.use_preferences_save = False
    zip_path = build_addon.build(tmp_dir / "handmocap_blender.zip")
    repo_dir = tmp_dir / "extensions"
    repo_dir.mkdir()
    bpy.ops.preferences.extension_repo_add(name="hm_test", type="LOCAL", custom_directory=str(repo_dir),
                                           use_custom_directory=True)
    repo = next(r for r in bpy.context.preferences.extensions.repos if r.directory == str(repo_dir))
    res = bpy.ops.extensions.package_install_files(filepath=str(zip_path), repo=repo.module,
                                                   enable_on_install=True)
    assert res == {"FINISHED"}
    return f"bl_ext.{repo.module}.handmocap_blender"


def uninstall_addon(module: str) -> None:
    if module in bpy.context.preferences.addons:
        bpy.ops.preferences.addon_disable(module=module)
    idx = [i for i, r in enumerate(bpy.context.preferences.extensions.repos) if r.module == module.split(".")[1]]
    if idx:
        bpy.ops.preferences.extension_repo_remove(index=idx[0], remove_files=True)


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon"))
    yield module
    uninstall_addon(module)


def clean_scene() -> None:
    """Empty scene, preferences (and so the installed add-on) kept."""
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)


def import_file(path) -> list:
    clean_scene()
    assert bpy.ops.handmocap.import_motion(filepath=str(path)) == {"FINISHED"}
    return sorted((o for o in bpy.data.objects if o.type == "ARMATURE"), key=lambda o: o["handmocap_track"])


def bone_world(arm, names, attr="head") -> np.ndarray:
    mw = arm.matrix_world
    return np.array([list(mw @ getattr(arm.pose.bones[n], attr)) for n in names])


def test_installs_and_enables_from_zip(addon):
    assert addon in bpy.context.preferences.addons
    for op in ("import_motion", "retarget", "export_fbx", "export_bone_map"):
        assert hasattr(bpy.ops.handmocap, op)
    assert sys.modules[addon].__name__ == addon
    # the add-on itself never imports torch or the handmocap package
    imports = [line for p in (ROOT / "blender_addon").rglob("*.py") for line in p.read_text().splitlines()
               if re.match(r"\s*(import|from)\s+(torch|mediapipe|handmocap)\b", line)]
    assert imports == []


def test_import_bones_follow_keypoints(addon, motion_data, motion_npz):
    motion = motion_data
    arms = import_file(motion_npz)
    assert len(arms) == 2
    worst = 0.0
    for arm, track in zip(arms, motion.tracks):
        names = [b.name for b in arm.data.bones]
        assert len(names) == 16 and names[0] == ("wrist.R" if track.side == "right" else "wrist.L")
        assert arm.parent is None and len(arm.children) == 1 and arm.children[0].type == "MESH"
        for f in (0, 5, 11, 17, 23):
            bpy.context.scene.frame_set(f + 1)
            kp = np.asarray(track.keypoints_cam[f], np.float64) @ CV_TO_WORLD.T
            heads = bone_world(arm, names)
            tails = bone_world(arm, [names[j] for j in DISTAL], "tail")
            err = max(np.abs(heads - kp[JOINT_KEYPOINT]).max(), np.abs(tails - kp[list(FINGERTIP_KEYPOINTS)]).max())
            worst = max(worst, err)
    assert worst < POSITION_TOL_M, f"bone positions off by {worst * 1000:.4f} mm"


def test_skinned_mesh_matches_hand_model(addon, motion_data, motion_npz):
    torch = pytest.importorskip("torch")  # the package's hand model: main environment only
    from handmocap.hand import HandModel

    motion = motion_data
    arms = import_file(motion_npz)
    f = 12
    bpy.context.scene.frame_set(f + 1)
    dg = bpy.context.evaluated_depsgraph_get()
    for arm, track in zip(arms, motion.tracks):
        mesh_obj = arm.children[0].evaluated_get(dg)
        mw = np.array(mesh_obj.matrix_world)
        co = np.empty(len(mesh_obj.data.vertices) * 3)
        mesh_obj.data.vertices.foreach_get("co", co)
        verts = co.reshape(-1, 3) @ mw[:3, :3].T + mw[:3, 3]
        hand = HandModel(side=track.side, dtype=torch.float64)
        t = lambda a: torch.as_tensor(np.asarray(a, np.float64))[None]  # noqa: E731
        ref = hand(global_orient=t(track.global_orient[f]), hand_pose=t(track.hand_pose[f]),
                   betas=t(track.betas), transl=t(track.transl[f])).vertices[0].numpy() @ CV_TO_WORLD.T
        assert np.abs(verts - ref).max() < POSITION_TOL_M


def test_scene_camera_and_timing(addon, motion_data, motion_npz):
    from bpy_extras.object_utils import world_to_camera_view

    motion = motion_data
    import_file(motion_npz)
    scene = bpy.context.scene
    assert scene.render.fps / scene.render.fps_base == pytest.approx(motion.fps)
    assert (scene.frame_start, scene.frame_end) == (1, motion.num_frames)
    assert (scene.render.resolution_x, scene.render.resolution_y) == tuple(motion.image_size)
    W, H = motion.image_size
    for track in motion.tracks:
        for f in (0, 12):
            for k in (0, 8, 20):
                p = np.asarray(track.keypoints_cam[f, k], np.float64) @ CV_TO_WORLD.T
                ndc = world_to_camera_view(scene, scene.camera, __import__("mathutils").Vector(p))
                # Blender's view: (0, 0) bottom-left corner, (1, 1) top-right; pixel centres
                px = (ndc.x * W - 0.5, (1 - ndc.y) * H - 0.5)
                assert np.allclose(px, track.keypoints_px[f, k], atol=0.05), (px, track.keypoints_px[f, k])


def test_bone_x_is_flexion_axis_for_both_hands(addon, motion_npz):
    """Curling fingers is a positive rotation about each bone's local X, left and right.
    The clip flexes about the model's z axis, which lies in the palm plane: in every bone
    frame it has no Z (palm-normal) part and a positive X part (splayed fingers such as
    the pinky, ~25 degrees off the model's x axis, add some Y)."""
    arms = import_file(motion_npz)
    bpy.context.scene.frame_set(12 + 1)  # fully closed in the synthetic clip (1.2 rad a joint)
    for arm in arms:
        for bone in arm.pose.bones:
            if bone.name.startswith(("index", "middle", "ring", "pinky")):
                axis, angle = bone.rotation_quaternion.to_axis_angle()
                assert axis.x > 0.85 and abs(axis.z) < 0.02 and angle == pytest.approx(1.2, abs=0.01), (bone.name, axis, angle)


def test_video_becomes_camera_background(addon, motion_data, motion_npz, tmp_path):
    motion = motion_data
    video = ROOT / "examples" / "hand_wave.mp4"
    path = rewrite_meta(motion_npz, tmp_path / "with_video.motion.npz", source=str(video))
    import_file(path)
    cam = bpy.context.scene.camera.data
    assert cam.show_background_images and len(cam.background_images) == 1
    bg = cam.background_images[0]
    assert Path(bg.image.filepath) == video and bg.image.source == "MOVIE"
    assert bg.image_user.frame_start == 1 and bg.image_user.frame_duration == motion.num_frames


def test_video_found_next_to_a_moved_motion_file(addon, motion_npz, tmp_path):
    """A relative source path is looked up next to the motion file, not in Blender's
    working directory; source_relative wins over a stale absolute source."""
    shoot = tmp_path / "moved_shoot"
    (shoot / "out").mkdir(parents=True)
    video = shoot / "clip.mp4"
    video.write_bytes((ROOT / "examples" / "hand_wave.mp4").read_bytes())
    for name, meta in (("relative", dict(source="../clip.mp4")),
                       ("stale", dict(source="/nonexistent/old_shoot/clip.mp4", source_relative="../clip.mp4"))):
        path = rewrite_meta(motion_npz, shoot / "out" / f"{name}.motion.npz", **meta)
        import_file(path)
        bg = bpy.context.scene.camera.data.background_images
        assert len(bg) == 1 and Path(bg[0].image.filepath).resolve() == video.resolve(), name


def test_motion_writer_records_the_source_relative_to_the_motion(tmp_path, motion_npz):
    motion_mod = pytest.importorskip("handmocap.motion")  # the package's writer (main environment)
    motion = motion_mod.load_motion(motion_npz)
    video = tmp_path / "shoot" / "clip.mp4"
    video.parent.mkdir()
    video.write_bytes(b"video")
    motion.source = str(video)
    path = motion_mod.save_motion(motion, tmp_path / "shoot" / "out" / "clip")
    meta = json.loads(path.with_name("clip.motion.json").read_text())
    assert meta["source_relative"] == "../clip.mp4" and meta["version"] == 1
    assert motion_mod.load_motion(path).source == str(video)  # still readable by the package


def _corrupt(tmp_path, motion_file, kind):
    with np.load(motion_file) as z:
        data = {k: z[k] for k in z.files}
    meta = json.loads(str(data["meta_json"]))
    if kind == "missing_key":
        del data["t1.hand_pose"]
    elif kind == "wrong_version":
        meta["version"] = 99
    elif kind == "not_motion":
        del data["meta_json"]
    elif kind == "bad_shape":
        data["t0.transl"] = data["t0.transl"][:, :2]
    data["meta_json"] = np.asarray(json.dumps(meta)) if kind != "not_motion" else np.asarray(0)
    if kind == "not_motion":
        del data["meta_json"]
    out = tmp_path / f"{kind}.motion.npz"
    if kind == "truncated":
        out.write_bytes(Path(motion_file).read_bytes()[:500])
    elif kind == "garbage":
        out.write_bytes(b"not a zip at all" * 10)
    else:
        np.savez(out, **data)
    return out


@pytest.mark.parametrize("kind, message", [
    ("missing_key", "missing array 't1.hand_pose'"),
    ("wrong_version", "version 99 is not supported"),
    ("not_motion", "not a handmocap motion file"),
    ("bad_shape", "'t0.transl' has shape"),
    ("truncated", "not a readable motion file"),
    ("garbage", "not a readable motion file"),
])
def test_bad_files_get_an_error_report(addon, tmp_path, motion_npz, kind, message):
    bad = _corrupt(tmp_path, motion_npz, kind)
    clean_scene()
    with pytest.raises(RuntimeError) as exc:  # bpy.ops turns an ERROR report into RuntimeError
        bpy.ops.handmocap.import_motion(filepath=str(bad))
    text = str(exc.value)
    assert message in text and str(bad) in text and "Traceback" not in text
    assert len(text.strip().splitlines()) == 1
    assert not any(o.type == "ARMATURE" for o in bpy.data.objects)


def test_missing_file_and_bad_hand_model(addon, tmp_path, motion_npz):
    clean_scene()
    with pytest.raises(RuntimeError, match="motion file not found"):
        bpy.ops.handmocap.import_motion(filepath=str(tmp_path / "none.motion.npz"))
    prefs = bpy.context.preferences.addons[addon].preferences
    bad_model = tmp_path / "model.npz"
    np.savez(bad_model, v_template=np.zeros((4, 3)))
    prefs.hand_model_path = str(bad_model)
    try:
        with pytest.raises(RuntimeError, match="missing key 'shapedirs'"):
            bpy.ops.handmocap.import_motion(filepath=str(motion_npz))
    finally:
        prefs.hand_model_path = ""


def test_user_hand_model_from_preferences(addon, tmp_path, motion_npz):
    """A MANO-format .npz set in the preferences is used for the mesh and bones."""
    with np.load(ROOT / "handmocap/hand/data/open_hand.npz") as z:
        arrays = {k: z[k] for k in ("v_template", "shapedirs", "J_regressor", "weights", "f")}
    arrays["v_template"] = arrays["v_template"] * 1.1  # a bigger hand
    path = tmp_path / "MY_HAND.npz"
    np.savez(path, **arrays)
    prefs = bpy.context.preferences.addons[addon].preferences
    prefs.hand_model_path = str(path)
    try:
        clean_scene()
        assert bpy.ops.handmocap.import_motion(filepath=str(motion_npz)) == {"FINISHED"}
        arm = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o["handmocap_track"] == 0)
        assert arm["handmocap_model_match"] == 0
        length = arm.data.bones["wrist.R"].length
    finally:
        prefs.hand_model_path = ""
    arms = import_file(motion_npz)
    assert length == pytest.approx(1.1 * arms[0].data.bones["wrist.R"].length, rel=0.05)
