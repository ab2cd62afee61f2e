"""OBJ sequence (re-read with trimesh) and the preview MP4 (checked with ffprobe/ffmpeg)."""
import json
import shutil
import subprocess

import numpy as np
import pytest
import torch
import trimesh

from handmocap.export import export_motion
from handmocap.export.obj_sequence import camera_space_vertices
from handmocap.hand import HandModel


def test_obj_sequence_matches_hand_model(tmp_path, motion):
    paths = export_motion(motion, ["obj"], tmp_path, "clip")["obj"]
    assert [p.name for p in paths[:2]] == ["clip_000000.obj", "clip_000001.obj"]
    assert len(paths) == motion.num_frames
    for f in (0, 11, motion.num_frames - 1):
        mesh = trimesh.load(paths[f], process=False, force="mesh")
        expected = []
        for t in motion.tracks:
            hand = HandModel(side=t.side, dtype=torch.float64)
            i = list(t.frame_index).index(f)
            out = hand(global_orient=t.global_orient[i:i + 1], hand_pose=t.hand_pose[i:i + 1],
                       betas=t.betas[None], transl=t.transl[i:i + 1])
            expected.append(out.vertices[0].numpy())
        np.testing.assert_allclose(mesh.vertices, np.concatenate(expected), atol=1e-5)
        assert len(mesh.faces) == sum(len(HandModel(side=t.side).faces) for t in motion.tracks)


def test_frames_without_hands_keep_numbering(tmp_path, motion):
    motion.tracks = [motion.tracks[0].subset(slice(5, None))]
    paths = export_motion(motion, ["obj"], tmp_path, "clip")["obj"]
    assert len(paths) == motion.num_frames
    assert "v " not in paths[0].read_text() and "v " in paths[5].read_text()


@pytest.fixture
def source_video(tmp_path, motion):
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is not installed: run `make test` (it installs it)")
    W, H = motion.image_size
    path = tmp_path / "source.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"color=c=0x404040:s={W}x{H}:r={motion.fps}",
                    "-frames:v", str(motion.num_frames), "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def _ffprobe(path):
    out = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,width,height,r_frame_rate,nb_read_frames", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["streams"][0]


def test_preview_draws_hands_where_they_project(tmp_path, motion, source_video):
    path = export_motion(motion, ["preview"], tmp_path, "clip", video=source_video)["preview"][0]
    s = _ffprobe(path)
    W, H = motion.image_size
    assert (s["codec_name"], s["width"], s["height"]) == ("h264", W, H)
    assert int(s["nb_read_frames"]) == motion.num_frames and s["r_frame_rate"] == f"{int(motion.fps)}/1"
    f = 12
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-vf", f"select=eq(n\\,{f})", "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frame = np.frombuffer(raw, np.uint8).reshape(H, W, 3).astype(int)
    background = 0x40
    for t in motion.tracks:
        for k in (0, 5, 9, 13, 17):  # wrist and knuckles lie on the drawn mesh and skeleton
            x, y = np.round(t.keypoints_px[f, k]).astype(int)
            assert np.abs(frame[y - 1:y + 2, x - 1:x + 2] - background).max() > 40
    # far from both hands the source video shows through unchanged
    verts = np.concatenate(list(camera_space_vertices(motion)[f].values()))
    uv = verts @ motion.camera.matrix.T
    uv = uv[:, :2] / uv[:, 2:]
    ys, xs = np.mgrid[0:H:8, 0:W:8]
    far = np.min(np.hypot(xs.reshape(-1, 1) - uv[:, 0], ys.reshape(-1, 1) - uv[:, 1]), 1) > 40
    assert np.abs(frame[ys.reshape(-1)[far], xs.reshape(-1)[far]] - background).max() <= 6


def test_preview_is_atomic_on_failure(tmp_path, motion):
    wrong = tmp_path / "small.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x48:r=24", "-frames:v", "4",
                    "-pix_fmt", "yuv420p", str(wrong)], check=True)
    from handmocap.errors import InputError

    with pytest.raises(InputError, match="differs"):
        export_motion(motion, ["preview"], tmp_path / "out", "clip", video=wrong)
    assert not list((tmp_path / "out").glob("*"))
