"""GLB timing edge cases: hands that appear after the first frame, gaps, bad timestamps.

The validator (npm gltf-validator) and Blender (bpy) check the files; the plain two-hand
case is in test_glb_validator.py and tests/blender/test_glb_import.py.
"""
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pygltflib
import pytest
import torch
from gltf_validator import validate

from handmocap.errors import FormatError
from handmocap.export.glb import clip_start_s, export_glb
from handmocap.hand import HandModel

CV_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]]) @ np.diag([1.0, -1.0, -1.0])




def test_hands_that_appear_late_are_keyed_from_their_frame(tmp_path, motion):
    """No hand in the first 4 frames (usual in real videos): the keys start at 4 / fps, a
    STEP key at 0 hides the hand before, and the file stays valid."""
    motion.tracks = [t.subset(slice(4, None)) for t in motion.tracks]
    assert clip_start_s(motion) == pytest.approx(0.0)
    path = export_glb(motion, tmp_path / "late.glb")
    issues = validate(path)["issues"]
    assert (issues["numErrors"], issues["numWarnings"], issues["numInfos"]) == (0, 0, 0), issues["messages"]
    gltf = pygltflib.GLTF2().load(str(path))
    for anim in gltf.animations:
        assert min(gltf.accessors[s.input].min[0] for s in anim.samplers) == 0.0
        linear = {s.input for s in anim.samplers if s.interpolation == "LINEAR"}
        assert len(linear) == 1  # one shared time accessor per track
        acc = gltf.accessors[linear.pop()]
        np.testing.assert_allclose([acc.min[0], acc.max[0]], [4 / motion.fps, 23 / motion.fps], rtol=1e-6)


def test_timestamps_are_measured_from_the_clip_start(tmp_path, motion):
    """Absolute presentation times (a stream that starts at 10 s) still key frame f at f / fps."""
    for t in motion.tracks:
        t.timestamp_s = t.timestamp_s + 10.0
    motion.tracks[1] = motion.tracks[1].subset(slice(6, None))
    assert clip_start_s(motion) == pytest.approx(10.0)
    gltf = pygltflib.GLTF2().load(str(export_glb(motion, tmp_path / "offset.glb")))
    firsts = [min(gltf.accessors[s.input].min[0] for s in a.samplers if s.interpolation == "LINEAR")
              for a in gltf.animations]
    np.testing.assert_allclose(firsts, [0.0, 6 / motion.fps], atol=1e-6)


def test_timestamps_that_do_not_increase_are_refused(tmp_path, motion):
    motion.tracks[1].timestamp_s[5] = motion.tracks[1].timestamp_s[4]
    with pytest.raises(FormatError, match="track 1: timestamp_s must be finite and strictly increasing"):
        export_glb(motion, tmp_path / "bad.glb")
    assert not list(tmp_path.glob("*"))  # nothing written, not even a partial file


@pytest.mark.blender
@pytest.mark.xdist_group("bpy")
def test_blender_hides_the_hand_where_its_track_has_no_frames(tmp_path, motion):
    """Track 1 starts at frame 3 and misses frames 10-13: there its mesh collapses to a point
    (wrist scale 0, STEP); on its frames it is the hand model's mesh, vertex by vertex."""
    bpy = pytest.importorskip("bpy")
    t = motion.tracks[1] = motion.tracks[1].subset(np.r_[3:10, 14:len(motion.tracks[1])])
    path = export_glb(motion, tmp_path / "gaps.glb")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.fps = int(motion.fps)  # the importer turns seconds into frames at this rate
    bpy.ops.import_scene.gltf(filepath=str(path))
    for arm in (o for o in scene.objects if o.type == "ARMATURE"):
        ad = arm.animation_data  # each armature's only animation, stashed as an NLA strip
        ad.action = ad.nla_tracks[0].strips[0].action
        ad.nla_tracks.remove(ad.nla_tracks[0])
    obj = next(o for o in scene.objects if o.type == "MESH" and o.name.startswith("T1_"))
    hand = HandModel(side=t.side, dtype=torch.float64)
    for f in (0, 2, 3, 9, 10, 13, 14, 23):
        scene.frame_set(f)
        ev = obj.evaluated_get(bpy.context.evaluated_depsgraph_get())
        got = np.array([list(ev.matrix_world @ v.co) for v in ev.data.vertices])
        if f not in t.frame_index:
            assert np.ptp(got, 0).max() < 1e-6, f
            continue
        i = int(np.flatnonzero(t.frame_index == f)[0])
        want = hand(global_orient=t.global_orient[i:i + 1], hand_pose=t.hand_pose[i:i + 1],
                    betas=t.betas[None], transl=t.transl[i:i + 1]).vertices[0].numpy()
        np.testing.assert_allclose(got, want @ CV_TO_BLENDER.T, atol=1e-3)
