"""The GLB re-imports in Blender (bpy): one armature of 16 bones per track, the clip's
frame range, and skinned vertices equal to the hand model in camera space."""
import numpy as np
import pytest
import torch

bpy = pytest.importorskip("bpy")

from handmocap.export.glb import export_glb  # noqa: E402
from handmocap.hand import HandModel  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
VERTEX_TOL_M = 1e-3
GLTF_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # importer's y-up -> z-up
CV_TO_GLTF = np.diag([1.0, -1.0, -1.0])


def test_glb_reimports_with_bones_frames_and_positions(tmp_path, motion):
    path = export_glb(motion, tmp_path / "hands.glb")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    scene = bpy.context.scene
    scene.render.fps = int(motion.fps)  # the importer turns seconds into frames at this rate
    bpy.ops.import_scene.gltf(filepath=str(path))
    arms = sorted((o for o in scene.objects if o.type == "ARMATURE"), key=lambda o: o.name)
    assert len(arms) == 2 and all(len(a.data.bones) == 16 for a in arms)
    for arm in arms:
        # the importer makes the first animation active and stashes the others as NLA strips
        strips = [s for t in arm.animation_data.nla_tracks for s in t.strips]
        assert len(strips) == 1
        arm.animation_data.action = strips[0].action
        arm.animation_data.nla_tracks.remove(arm.animation_data.nla_tracks[0])
        start, end = arm.animation_data.action.frame_range
        assert round(start) == 0 and round(end) == motion.num_frames - 1
    # (the importer also adds an "Icosphere" bone display shape)
    meshes = {o.name: o for o in scene.objects if o.type == "MESH" and o.name.startswith("T")}
    assert len(meshes) == 2
    for k, track in enumerate(motion.tracks):
        obj = next(o for n, o in meshes.items() if n.startswith(f"T{k}_"))
        hand = HandModel(side=track.side, dtype=torch.float64)
        for f in (0, 9, 17):
            scene.frame_set(int(round(start)) + f)
            deps = bpy.context.evaluated_depsgraph_get()
            ev = obj.evaluated_get(deps)
            got = np.array([list(ev.matrix_world @ v.co) for v in ev.data.vertices])
            want = hand(global_orient=track.global_orient[f:f + 1], hand_pose=track.hand_pose[f:f + 1],
                        betas=track.betas[None], transl=track.transl[f:f + 1]).vertices[0].numpy()
            want = want @ (GLTF_TO_BLENDER @ CV_TO_GLTF).T
            # the importer keeps the vertex order (measured error 2e-7 m): vertex by vertex
            assert got.shape == want.shape
            assert np.abs(got - want).max() < VERTEX_TOL_M, (k, f, np.abs(got - want).max())
