"""Track Video... from inside Blender: the add-on runs the real installed `handmocap`
command on the bundled example clip, reads its progress, and imports the motion; a run is
cancelled with a real signal; a missing command gets a one-line install hint."""
from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
import importlib.util  # noqa: E402

# the package and its `handmocap` command live in the main environment, not in bpy 4.2's
needs_command = pytest.mark.skipif(importlib.util.find_spec("torch") is None,
                                   reason="the handmocap package is installed in the main environment only")

from test_addon import CV_TO_WORLD, JOINT_KEYPOINT, ROOT, bone_world, clean_scene, install_addon, \
    uninstall_addon  # noqa: E402

from test_rigify import measure  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
VIDEO = ROOT / "examples" / "hand_wave.mp4"
CALIB = ROOT / "examples" / "hand_wave.calib.json"
MAX_FRAMES = 6


def handmocap_exe() -> str:
    """The installed command of this environment (the venv's bin), else PATH's."""
    exe = Path(sys.executable).with_name("handmocap")
    found = str(exe) if exe.is_file() else shutil.which("handmocap")
    assert found, "the handmocap command is not installed beside this Python (pip install -e .)"
    return found


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon_track"))
    yield module
    uninstall_addon(module)


def _prefs(addon):
    return bpy.context.preferences.addons[addon].preferences


@needs_command
def test_track_video_imports_the_tracked_motion(addon, tmp_path, rigify_blend):
    from blender_addon.core.motion_reader import read_motion

    _prefs(addon).tracker_path = handmocap_exe()
    clean_scene()
    res = bpy.ops.handmocap.track_video(filepath=str(VIDEO), out_dir=str(tmp_path / "out"), intrinsics="CALIB",
                                        calib_path=str(CALIB), max_frames=MAX_FRAMES, wait=True)
    assert res == {"FINISHED"}
    motion_path = tmp_path / "out" / "hand_wave.motion.npz"
    motion = read_motion(motion_path)
    assert motion.num_frames == MAX_FRAMES and motion.source_file() == VIDEO.resolve()
    # the calibration reached the tracker: the motion's K is the file's camera matrix
    K = np.asarray(json.loads(CALIB.read_text())["camera_matrix"], np.float64)
    assert np.allclose(motion.K, K, rtol=1e-4)
    arms = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    assert len(arms) == len([t for t in motion.tracks if len(t)]) >= 1
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, MAX_FRAMES)
    assert scene.camera is not None and scene.camera.data.background_images[0].image.filepath == str(VIDEO.resolve())
    for arm in arms:
        track = next(t for t in motion.tracks if t.track_id == arm["handmocap_track"])
        names = [b.name for b in arm.data.bones]
        assert len(names) == 16 and arm.animation_data.action is not None
        f = int(track.frame_index[-1])
        scene.frame_set(f + 1)
        kp = np.asarray(track.keypoints_cam[-1], np.float64) @ CV_TO_WORLD.T
        assert np.abs(bone_world(arm, names) - kp[JOINT_KEYPOINT]).max() < 1e-3
    # and on to the rig Rigify generates (IK arm, wrist too): a real capture, thumb included
    arm = arms[0]
    side = arm["handmocap_side"]
    with bpy.data.libraries.load(str(rigify_blend), link=False) as (_, data_to):
        data_to.objects = ["rig"]
    rig = data_to.objects[0]
    scene.collection.objects.link(rig)
    assert bpy.ops.handmocap.retarget(source=arm.name, target=rig.name, transfer_wrist=True) == {"FINISHED"}
    per_finger, tip_err, hand_err, _ = measure(arm, side, rig, side, generated=True, frames=range(1, MAX_FRAMES + 1))
    print(f"\ntracked clip onto Rigify ({side}, IK, wrist too): per finger (deg) "
          + " ".join(f"{f} {e:.3f}" for f, e in per_finger.items()) + f"; hand {hand_err:.3f} deg")
    assert max(per_finger.values()) < 1.0 and hand_err < 2.0 and tip_err < 1e-3


@needs_command
def test_tracking_is_cancelled_with_a_signal(tmp_path):
    from blender_addon.core.tracking import TrackJob, TrackOptions, track_command

    out = tmp_path / "out"
    job = TrackJob(track_command(handmocap_exe(), VIDEO, out, TrackOptions(fov=60.0)))
    t_end = time.monotonic() + 120
    while job.poll() == "running" and job.done < 2 and time.monotonic() < t_end:
        time.sleep(0.05)
    assert job.state == "running" and job.done >= 2 and job.total == 60  # progress came through
    job.cancel()
    assert job.proc.returncode is not None and job.proc.returncode != 0
    assert job.poll() == "cancelled"
    assert not (out / "hand_wave.motion.npz").exists()  # nothing half-written left behind
    t_end = time.monotonic() + 10  # the decoder (ffmpeg) is stopped too, within moments
    while live_group_members(job.proc.pid) and time.monotonic() < t_end:
        time.sleep(0.1)
    assert live_group_members(job.proc.pid) == []


def live_group_members(pgid: int) -> list[int]:
    """Processes of a process group that are still running (zombies, whose parent died
    before reaping them, do not count)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(stat.parent.name))
    return alive


def test_missing_tracker_says_how_to_install(addon, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no handmocap on PATH
    _prefs(addon).tracker_path = ""
    clean_scene()
    with pytest.raises(RuntimeError) as exc:
        bpy.ops.handmocap.track_video(filepath=str(VIDEO), wait=True)
    text = str(exc.value).strip()
    assert "handmocap is not installed" in text and "pip install" in text and "Preferences" in text
    assert len(text.splitlines()) == 1
    _prefs(addon).tracker_path = str(tmp_path / "nothing" / "handmocap")
    with pytest.raises(RuntimeError, match="not an executable"):
        bpy.ops.handmocap.track_video(filepath=str(VIDEO), wait=True)
    _prefs(addon).tracker_path = ""
