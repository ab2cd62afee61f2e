"""Rendered test videos: Blender camera == K, GT consistent with the hand model and the pixels."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from handmocap.hand import HandModel
from handmocap.hand.mirror import mirror_points
from training.render import animate as an

ROOT = Path(__file__).resolve().parents[2]


def _tool():
    spec = importlib.util.spec_from_file_location("render_hand_video", ROOT / "tools" / "render_hand_video.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def _pose_right(hand_pose, yaw=0.0, centre=(0.0, 0.0, 0.5)):
    model = HandModel(dtype=torch.float64)
    return an.pose_hand(model, hand_pose[None], an.view_orient(yaw)[None], np.array([centre], float),
                        np.zeros(10)), model


def test_fist_curls_fingers_towards_the_palm():
    model = HandModel(dtype=torch.float64)
    flat = model().keypoints[0].numpy()
    fist = model(hand_pose=torch.as_tensor(an.hand_pose_named("fist"))[None]).keypoints[0].numpy()
    tips = [4, 8, 12, 16, 20]
    assert np.all(fist[tips, 1] < flat[tips, 1] - 0.01)  # palm faces -y in the model frame
    # curled fingertips end up near the palm: closer to the wrist than when flat
    assert np.all(np.linalg.norm(fist[tips[1:]] - fist[0], axis=1) < np.linalg.norm(flat[tips[1:]] - flat[0], axis=1))


def test_view_orient_zero_shows_palm_with_fingers_up():
    out, _ = _pose_right(an.hand_pose_named("flat"))
    kp = out["keypoints_cam"][0]
    assert kp[12, 1] < kp[0, 1] - 0.1  # middle tip above the wrist in the image (y down)
    assert kp[4, 0] > kp[20, 0]  # right hand, palm to the camera: thumb on image right
    normal = np.cross(kp[5] - kp[0], kp[17] - kp[0])  # palm normal of a right hand
    assert normal[2] < 0  # ... points at the camera


def test_left_parameters_give_the_mirrored_hand():
    ts = np.arange(3) / 15.0
    keys = [an.Keyframe(0.0, an.hand_pose_named("point"), an.view_orient(0.3, 0.1, 0.2), np.array([0.05, 0.0, 0.5])),
            an.Keyframe(1.0, an.hand_pose_named("fist"), an.view_orient(-0.2), np.array([0.0, 0.02, 0.45]))]
    right = an.interpolate(keys, ts)
    left = an.to_side(right, "left")
    betas = np.linspace(-1, 1, 10)
    r = an.pose_hand(HandModel(side="right", dtype=torch.float64), right["hand_pose"], right["global_orient"],
                     right["centre"], betas)
    l = an.pose_hand(HandModel(side="left", dtype=torch.float64), left["hand_pose"], left["global_orient"],
                     left["centre"], betas)
    np.testing.assert_allclose(l["keypoints_cam"], mirror_points(torch.as_tensor(r["keypoints_cam"])).numpy(),
                               atol=1e-9)
    np.testing.assert_allclose(r["keypoints_cam"][:, 9], right["centre"], atol=1e-12)


def test_interpolate_hits_keys_and_rejects_unsorted_times():
    a = an.Keyframe(0.0, np.zeros(45), an.view_orient(0.0), np.zeros(3))
    b = an.Keyframe(1.0, np.ones(45), an.view_orient(0.5), np.ones(3))
    p = an.interpolate([a, b], np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(p["hand_pose"][[0, 2]], [np.zeros(45), np.ones(45)], atol=1e-12)
    np.testing.assert_allclose(p["hand_pose"][1], 0.5, atol=1e-12)
    np.testing.assert_allclose(p["global_orient"][2], b.global_orient, atol=1e-9)
    with pytest.raises(ValueError, match="increase"):
        an.interpolate([b, a], np.array([0.0]))
    with pytest.raises(KeyError, match="unknown hand pose"):
        an.hand_pose_named("no-such-pose")


def test_exposure_and_tone_map():
    from training.render import scene as sc

    img = np.full((4, 4, 3), 0.05, np.float32)
    mask = np.zeros((4, 4), bool)
    mask[:2] = True
    img[:2] = 0.5
    e = sc.exposure_for(img, mask, 0.25)
    assert e == pytest.approx(0.5)
    out = sc.tone_map(img, e)
    assert out.dtype == np.uint8 and out.shape == (4, 4, 3)
    assert out[0, 0, 0] == round(255 * (1.055 * 0.25 ** (1 / 2.4) - 0.055))  # sRGB of linear 0.25
    assert sc.tone_map(img * 1e3, 1.0).max() <= 255


def test_blender_camera_matches_K():
    """A hand rendered on a transparent film: Blender's silhouette is the mesh projected with K
    (off-centre principal point: checks lens and shift signs), joints land on the hand."""
    from training.render import scene as sc

    W, H = 160, 120
    K = np.array([[150.0, 0, 88.0], [0, 150.0, 52.0], [0, 0, 1]])
    out, model = _pose_right(an.hand_pose_named("point"), yaw=0.3, centre=(0.03, 0.01, 0.42))
    verts = out["vertices_cam"][0]
    scene = sc.new_scene(K, (W, H), samples=4, denoise=False)
    scene.render.film_transparent = True
    sc.add_hand(scene, "hand", verts, model.faces.numpy(), np.array([0.6, 0.4, 0.3]), subdivide=0)
    coverage = sc.render_linear(scene)[..., 3]
    alpha = coverage > 0.5
    mask = sc.hand_mask(verts, model.faces.numpy(), K, (W, H))
    iou = (alpha & mask).sum() / (alpha | mask).sum()
    assert iou > 0.9, iou
    # pixel coverage of the projected mesh (8x supersampled) against Blender's alpha: the
    # centroids agree to a small fraction of a pixel (a half-pixel or shift-sign error would
    # move them by 0.5 or ~17 px)
    S = 8
    K_fine = np.diag([S, S, 1.0]) @ K
    K_fine[:2, 2] = (K[:2, 2] + 0.5) * S - 0.5
    fine = sc.hand_mask(verts, model.faces.numpy(), K_fine, (W * S, H * S)).reshape(H, S, W, S).mean((1, 3))
    yy, xx = np.mgrid[:H, :W]
    c_render = np.array([(xx * coverage).sum(), (yy * coverage).sum()]) / coverage.sum()
    c_mesh = np.array([(xx * fine).sum(), (yy * fine).sum()]) / fine.sum()
    np.testing.assert_allclose(c_render, c_mesh, atol=0.2)
    assert abs(coverage.sum() / fine.sum() - 1) < 0.02
    joints = an.project(out["keypoints_cam"][0, [0, 1, 2, 5, 6, 9, 10, 13, 14, 17, 18]], K)
    near = cv2.dilate(alpha.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    ij = np.round(joints).astype(int)
    assert near[ij[:, 1], ij[:, 0]].all()
    with pytest.raises(ValueError, match="square pixels"):
        sc.set_intrinsics(scene.camera, np.array([[150.0, 0, 80], [0, 140.0, 60], [0, 0, 1]]), (W, H))


def test_two_hand_video_and_ground_truth(tmp_path):
    tool = _tool()
    W, H = 160, 120
    gt = tool.render_video("test-two", tmp_path, frames=2, size=(W, H), samples=4, log=lambda *_: None)
    video = tmp_path / "two_hands.mp4"
    cap = cv2.VideoCapture(str(video))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f[..., ::-1])  # RGB
    assert len(frames) == 2 and frames[0].shape == (H, W, 3)
    with np.load(tmp_path / "two_hands.gt.npz") as z:
        saved = dict(z)
    assert set(gt) == set(saved)
    K = saved["K"]
    np.testing.assert_array_equal(saved["image_size"], [W, H])
    calib = __import__("json").loads((tmp_path / "two_hands.calib.json").read_text())
    np.testing.assert_allclose(calib["camera_matrix"], K)
    assert saved["timestamps_s"].shape == (2,) and saved["num_hands"] == 2
    assert [str(saved[f"hand{h}_side"]) for h in range(2)] == ["right", "left"]
    for h in range(2):
        side = str(saved[f"hand{h}_side"])
        model = HandModel(side=side, dtype=torch.float64)
        kp = model(global_orient=torch.as_tensor(saved[f"hand{h}_global_orient"]),
                   hand_pose=torch.as_tensor(saved[f"hand{h}_hand_pose"]),
                   betas=torch.as_tensor(saved[f"hand{h}_betas"])[None].expand(2, -1),
                   transl=torch.as_tensor(saved[f"hand{h}_transl"])).keypoints.numpy()
        np.testing.assert_allclose(saved[f"hand{h}_keypoints_cam"], kp, atol=1e-9)
        px = saved[f"hand{h}_keypoints_px"]
        assert px.shape == (2, 21, 2)
        np.testing.assert_allclose(px, an.project(kp, K), atol=1e-9)
        assert saved[f"hand{h}_visible"].all()
    # the right hand is on the image's left (a person facing the camera)
    assert saved["hand0_keypoints_px"][:, 9, 0].mean() < W / 2 < saved["hand1_keypoints_px"][:, 9, 0].mean()
    # GT joints sit on skin-coloured pixels (red over blue); the background is not skin-coloured
    img = frames[0].astype(float)
    redness = img[..., 0] - img[..., 2]
    joints = np.concatenate([saved[f"hand{h}_keypoints_px"][0, [0, 5, 9, 13, 17]] for h in range(2)])
    ij = np.round(joints).astype(int)
    on_hand = redness[ij[:, 1], ij[:, 0]]
    mask = np.zeros((H, W), bool)
    for h in range(2):
        pts = np.round(saved[f"hand{h}_keypoints_px"][0]).astype(np.int32)
        mask |= cv2.fillConvexPoly(np.zeros((H, W), np.uint8), cv2.convexHull(pts), 1).astype(bool)
    mask = cv2.dilate(mask.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    assert np.median(on_hand) > np.median(redness[~mask]) + 15, (on_hand, np.median(redness[~mask]))
