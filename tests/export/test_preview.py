"""Preview MP4 details: a source longer than the motion, a hand that appears late, bridged
frames. (Size/fps/codec and the drawing position are in test_obj_preview.py.)"""
import json
import shutil
import subprocess

import numpy as np
import pytest

from handmocap.export.preview import export_preview

GREY = 0x40


def decode(path, W, H):
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(-1, H, W, 3).astype(int)


def test_preview_of_a_hand_that_appears_late(tmp_path, make_motion):
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed: run `make test` (it installs it)")
    motion = make_motion(num_frames=12, sides=("right",), size=(320, 240))
    t = motion.tracks[0] = motion.tracks[0].subset(slice(5, None))  # the hand appears at frame 5
    t.detected[2] = False  # frame 7 was bridged: mesh drawn, no detector skeleton
    W, H = motion.image_size
    src = tmp_path / "grey.mp4"  # 20 frames: longer than the motion's 12
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x404040:s={W}x{H}:r={motion.fps}",
                    "-frames:v", "20", "-pix_fmt", "yuv420p", str(src)], check=True)
    path = export_preview(motion, src, tmp_path / "out" / "clip.preview.mp4")
    assert [p.name for p in path.parent.iterdir()] == ["clip.preview.mp4"]  # no partial file left
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
         "stream=nb_read_frames", "-of", "json", str(path)], capture_output=True, text=True, check=True).stdout)
    assert int(probe["streams"][0]["nb_read_frames"]) == motion.num_frames
    frames = decode(path, W, H)
    assert np.abs(frames[:5] - GREY).max() <= 6  # no hand yet: the source shows unchanged
    for f in (5, 7, 11):
        x, y = np.round(t.keypoints_px[f - 5, 9]).astype(int)  # middle knuckle: on the mesh
        assert np.abs(frames[f, y - 1:y + 2, x - 1:x + 2] - GREY).max() > 30, f
    # the skeleton is drawn only on detected frames: compare the bone wrist -> index knuckle
    # at its midpoint, which the mesh does not cover as brightly as the white/coloured line
    def line_strength(f):
        a, b = t.keypoints_px[f - 5, 0], t.keypoints_px[f - 5, 5]
        x, y = np.round((a + b) / 2).astype(int)
        return np.abs(frames[f, y - 1:y + 2, x - 1:x + 2] - GREY).sum(-1).max()

    assert line_strength(6) > line_strength(7) + 60 and line_strength(8) > line_strength(7) + 60


def test_tall_video_gets_a_preview_scaled_by_a_whole_factor(tmp_path, make_motion):
    """A 1280x960 video (over 720 lines): the preview is halved, 640x480, and the hand sits at
    the scaled keypoints."""
    motion = make_motion(num_frames=4, sides=("right",), size=(1280, 960))
    W, H = motion.image_size
    src = tmp_path / "grey.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x404040:s={W}x{H}:r={motion.fps}",
                    "-frames:v", "4", "-pix_fmt", "yuv420p", str(src)], check=True)
    path = export_preview(motion, src, tmp_path / "clip.preview.mp4")
    frames = decode(path, 640, 480)
    assert frames.shape == (4, 480, 640, 3)
    t = motion.tracks[0]
    for f in range(4):
        x, y = np.round((t.keypoints_px[f, 9] + 0.5) * 0.5 - 0.5).astype(int)  # middle knuckle
        assert np.abs(frames[f, y - 1:y + 2, x - 1:x + 2] - GREY).max() > 30, f
        # well outside the scaled hand (its keypoints' box + margin) the source is unchanged
        lo, hi = (t.keypoints_px[f] + 0.5) * 0.5 - 0.5 - 40, (t.keypoints_px[f] + 0.5) * 0.5 - 0.5 + 40
        outside = np.ones((480, 640), bool)
        outside[max(int(lo[:, 1].min()), 0):int(hi[:, 1].max()), max(int(lo[:, 0].min()), 0):int(hi[:, 0].max())] = False
        assert np.abs(frames[f][outside] - GREY).max() <= 6, f
    full = export_preview(motion, src, tmp_path / "full.preview.mp4", max_height=None)
    assert decode(full, W, H).shape == (4, H, W, 3)
