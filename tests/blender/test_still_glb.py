"""A still's GLB in Blender (bpy's own glTF importer): no animation, and the skinned mesh
already shows the posed hand, equal to the hand model in camera space."""
import numpy as np
import pytest

bpy = pytest.importorskip("bpy")
torch = pytest.importorskip("torch")  # the package's hand model: main environment only, not bpy 4.2's

from handmocap.export.glb import export_glb  # noqa: E402
from handmocap.hand import HandModel  # noqa: E402

pytestmark = [pytest.mark.blender, pytest.mark.xdist_group("bpy")]
VERTEX_TOL_M = 1e-3
GLTF_TO_BLENDER = np.array([[1.0, 0, 0], [0, 0, -1], [0, 1, 0]])  # importer's y-up -> z-up
CV_TO_GLTF = np.diag([1.0, -1.0, -1.0])


def test_still_glb_imports_posed_without_animation(tmp_path, make_motion):
    still = make_motion(num_frames=1)
    path = export_glb(still, tmp_path / "photo.glb")
    bpy.ops.wm.read_homefile(use_empty=True, use_factory_startup=True)
    bpy.ops.import_scene.gltf(filepath=str(path))
    scene = bpy.context.scene
    arms = [o for o in scene.objects if o.type == "ARMATURE"]
    assert len(arms) == 2 and not bpy.data.actions
    meshes = {o.name: o for o in scene.objects if o.type == "MESH" and o.name.startswith("T")}
    deps = bpy.context.evaluated_depsgraph_get()
    for k, track in enumerate(still.tracks):
        ev = next(o for n, o in meshes.items() if n.startswith(f"T{k}_")).evaluated_get(deps)
        got = np.array([list(ev.matrix_world @ v.co) for v in ev.data.vertices])
        want = HandModel(side=track.side, dtype=torch.float64)(
            global_orient=track.global_orient, hand_pose=track.hand_pose, betas=track.betas[None],
            transl=track.transl).vertices[0].numpy() @ (GLTF_TO_BLENDER @ CV_TO_GLTF).T
        assert np.abs(got - want).max() < VERTEX_TOL_M, (k, np.abs(got - want).max())
        # and it is not the flat rest hand: the pose is in the joints, not in an animation
        rest = HandModel(side=track.side, dtype=torch.float64)(
            betas=track.betas[None], transl=track.transl).vertices[0].numpy() @ (GLTF_TO_BLENDER @ CV_TO_GLTF).T
        assert np.abs(got - rest).max() > 0.02
