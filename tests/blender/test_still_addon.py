"""A still's motion file (a real photo tracked by the stills path) in the Blender add-on:
imported like a video's, one frame, bones on the tracked keypoints, the photo behind the
camera. Uses the add-on helpers of test_addon.py (same bpy worker)."""
from pathlib import Path

import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
pytest.importorskip("torch")  # tracks a photo with the package: main environment only, not bpy 4.2's

from test_addon import (CV_TO_WORLD, DISTAL, JOINT_KEYPOINT, POSITION_TOL_M, bone_world,  # noqa: E402
                        import_file, install_addon, uninstall_addon)

from handmocap import track_still  # noqa: E402
from handmocap.hand.joints import FINGERTIP_KEYPOINTS  # noqa: E402
from handmocap.motion import save_motion  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
RIGHT04 = Path("/usr/share/doc/opencv-doc/examples/data/right04.jpg")


@pytest.fixture(scope="module")
def addon(tmp_path_factory):
    module = install_addon(tmp_path_factory.mktemp("addon_still"))
    yield module
    uninstall_addon(module)


def test_still_motion_imports_with_its_photo(addon, tmp_path):
    motion = track_still(RIGHT04)
    assert len(motion.tracks) == 1
    arms = import_file(save_motion(motion, tmp_path / "right04"))
    assert len(arms) == 1
    scene = bpy.context.scene
    assert (scene.frame_start, scene.frame_end) == (1, 1)
    scene.frame_set(1)
    track, arm = motion.tracks[0], arms[0]
    names = [b.name for b in arm.data.bones]
    assert names[0] == "wrist.L"
    kp = np.asarray(track.keypoints_cam[0], np.float64) @ CV_TO_WORLD.T
    heads = bone_world(arm, names)
    tails = bone_world(arm, [names[j] for j in DISTAL], "tail")
    err = max(np.abs(heads - kp[JOINT_KEYPOINT]).max(), np.abs(tails - kp[list(FINGERTIP_KEYPOINTS)]).max())
    assert err < POSITION_TOL_M, err
    cam = scene.camera.data
    assert cam.show_background_images and Path(cam.background_images[0].image.filepath) == RIGHT04
