"""Exports that suit a still (a 1-frame motion): a posed GLB without animation (Khronos
validator), one OBJ (trimesh reads it back), a PNG overlay (OpenCV reads it back), and the
`handmocap export` command on a still's motion file."""
import cv2
import numpy as np
import pytest
import torch
import trimesh
from gltf_validator import validate

from handmocap.errors import HandmocapError
from handmocap.export import export_motion
from handmocap.hand import HandModel
from handmocap.motion import save_motion


@pytest.fixture
def still(make_motion):
    return make_motion(num_frames=1, size=(640, 480))


@pytest.fixture
def photo(tmp_path):
    """A textured photo of the motion's size (the overlay draws over it)."""
    rng = np.random.default_rng(0)
    image = cv2.resize(rng.integers(40, 200, (48, 64, 3), dtype=np.uint8), (640, 480), interpolation=cv2.INTER_NEAREST)
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), image[:, :, ::-1])
    return path, image


def _vertices(track) -> np.ndarray:
    hand = HandModel(side=track.side, dtype=torch.float64)
    return hand(global_orient=track.global_orient[:1], hand_pose=track.hand_pose[:1], betas=track.betas[None],
                transl=track.transl[:1]).vertices[0].numpy()


def test_still_exports_one_of_each(tmp_path, still, photo):
    out = export_motion(still, ["glb", "obj", "preview"], tmp_path / "out", "photo", video=photo[0])
    assert [p.name for p in out["obj"]] == ["photo.obj"]
    assert [p.name for p in out["preview"]] == ["photo.preview.png"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["photo.glb", "photo.obj", "photo.preview.png"]


def test_still_glb_is_valid_posed_and_not_animated(tmp_path, still):
    path = export_motion(still, ["glb"], tmp_path, "photo")["glb"][0]
    report = validate(path)
    issues, info = report["issues"], report["info"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]
    assert (info["animationCount"], info["drawCallCount"], info["hasSkins"]) == (0, 2, True)
    # the wrist nodes carry the pose: translation = rest wrist + transl (the MANO convention)
    import pygltflib

    gltf = pygltflib.GLTF2().load(str(path))
    for k, t in enumerate(still.tracks):
        wrist = next(n for n in gltf.nodes if n.name == f"T{k}_wrist")
        rest = HandModel(side=t.side, dtype=torch.float64)(betas=torch.as_tensor(t.betas)[None]).joints[0, 0].numpy()
        np.testing.assert_allclose(wrist.translation, rest + t.transl[0], atol=1e-6)
        assert wrist.rotation is not None and abs(np.linalg.norm(wrist.rotation) - 1) < 1e-6


def test_still_obj_holds_every_posed_hand(tmp_path, still):
    path = export_motion(still, ["obj"], tmp_path, "photo")["obj"][0]
    mesh = trimesh.load(path, process=False, force="mesh")
    want = np.concatenate([_vertices(t) for t in still.tracks])
    np.testing.assert_allclose(mesh.vertices, want, atol=1e-6)


def test_png_overlay_draws_the_hands_over_the_photo(tmp_path, still, photo):
    path = export_motion(still, ["png"], tmp_path, "photo", video=photo[0])["png"][0]
    drawn = cv2.imread(str(path))[:, :, ::-1]
    image = photo[1]
    assert drawn.shape == image.shape
    changed = np.abs(drawn.astype(int) - image).sum(-1) > 0
    K = still.camera.matrix
    for t in still.tracks:
        uv = _vertices(t) @ K.T
        uv = np.round(uv[:, :2] / uv[:, 2:]).astype(int)
        inside = (uv[:, 0] >= 0) & (uv[:, 0] < 640) & (uv[:, 1] >= 0) & (uv[:, 1] < 480)
        assert inside.mean() > 0.9
        assert changed[uv[inside, 1], uv[inside, 0]].mean() > 0.95  # the mesh covers its projection
    # pixels far from every hand are the photo's
    assert changed.mean() < 0.5 and not changed[:20, :20].any()


def test_png_overlay_is_for_stills_and_needs_the_image(tmp_path, make_motion, still):
    with pytest.raises(HandmocapError, match="for stills"):
        export_motion(make_motion(num_frames=5), ["png"], tmp_path, "clip", video=tmp_path / "x.mp4")
    with pytest.raises(HandmocapError, match="needs the source image"):
        export_motion(still, ["preview"], tmp_path, "photo")


def test_export_command_on_a_still(tmp_path, photo, still):
    from typer.testing import CliRunner

    from handmocap_cli.app import _register, app

    still.source = str(photo[0])
    npz = save_motion(still, tmp_path / "photo")
    _register()
    res = CliRunner().invoke(app, ["export", str(npz), "-f", "preview", "-f", "obj", "--out", str(tmp_path / "x")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "x" / "photo.preview.png").is_file() and (tmp_path / "x" / "photo.obj").is_file()
