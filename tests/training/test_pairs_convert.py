"""Detections of the people stills -> detector pairs (`training.pairs_convert`), the in-plane
rotation of pairs (`training.pairs.rotate_about_camera_axis`) and validation on held-out pairs."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from handmocap.camera.pinhole import project
from handmocap.errors import FormatError
from training.pairs import load_detector_pairs, mix_pairs, rotate_about_camera_axis
from training.pairs_convert import detections_to_pairs, split_by_subject

ROOT = Path(__file__).resolve().parents[2]
TRAIN = ROOT / "datasets" / "handeval" / "train" / "detections.npz"
PAIRS = ROOT / "datasets" / "handeval" / "pairs"


def _points(B=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    p = torch.randn(B, 21, 3, generator=g, dtype=torch.float64) * 0.05
    p[..., 2] += 0.5
    K = torch.zeros(B, 3, 3, dtype=torch.float64)
    K[:, 0, 0], K[:, 1, 1] = 900.0, 700.0  # fx != fy
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = 310.0, 250.0, 1.0
    return p, K


@pytest.mark.parametrize("B", [1, 6])
def test_rotation_keeps_2d_and_3d_consistent(B):
    p, K = _points(B)
    angle = torch.linspace(-3.0, 3.0, B, dtype=torch.float64)
    px, (q,) = rotate_about_camera_axis(project(p, K), [p], K, angle)
    torch.testing.assert_close(px, project(q, K))  # the new pixels are the rotated points' projections
    torch.testing.assert_close(q[..., 2], p[..., 2])
    torch.testing.assert_close(q.norm(dim=-1), p.norm(dim=-1))
    px0, (q0,) = rotate_about_camera_axis(project(p, K), [p], K, torch.zeros(B, dtype=torch.float64))
    torch.testing.assert_close(q0, p)


def test_rotation_gradcheck():
    p, K = _points(2)
    angle = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    px = project(p, K).requires_grad_(True)
    torch.autograd.gradcheck(lambda a, x: torch.cat([o.flatten() for o in (lambda r: [r[0], *r[1]])(
        rotate_about_camera_axis(x, [p], K, a))]), (angle, px))


def _fake_detections():
    N = 4
    d = {"found": np.array([[1, 0], [1, 1], [0, 0], [0, 1]], bool),
         "keypoints_px": np.random.default_rng(0).normal(size=(N, 2, 21, 2)),
         "keypoints_rel": np.zeros((N, 2, 21, 3)), "score": np.full((N, 2), 0.8),
         "K": np.tile(np.eye(3), (N, 1, 1)), "gt_keypoints_cam": np.arange(N * 2 * 21 * 3, dtype=float).reshape(N, 2, 21, 3),
         "view": np.array(["palmar", "side", "dorsal", "side"]), "side": np.array(["right", "left", "right", "left"]),
         "subject": np.array([1, 1, 2, 3]), "hand_length_m": np.full(N, 0.19),
         "image": np.array([f"images/{i}.jpg" for i in range(N)])}
    return d


def test_every_found_hand_is_a_pair_with_its_true_side():
    d = _fake_detections()
    p = detections_to_pairs(d)
    assert p["side"].tolist() == ["right", "right", "left", "left"]
    assert p["target"].tolist() == [True, False, True, True]
    np.testing.assert_array_equal(p["keypoints_cam"][2], d["gt_keypoints_cam"][1, 1])
    assert p["scores"].shape == (4, 21) and np.allclose(p["scores"], 0.8)
    train, val = split_by_subject(p, 2)
    assert set(train["subject"]).isdisjoint(val["subject"]) and len(train["side"]) + len(val["side"]) == 4
    with pytest.raises(FormatError, match="found"):
        detections_to_pairs({k: v for k, v in d.items() if k != "found"})


@pytest.mark.skipif(not TRAIN.exists(), reason="people set's train detections not present")
def test_real_detections_lie_on_their_ground_truth(tmp_path):
    """MediaPipe's landmarks (not made by this project) against the renders' ground truth after
    conversion and mirroring: the detector's 2D lies on the projected GT landmarks."""
    pairs = detections_to_pairs(dict(np.load(TRAIN)))
    np.savez(tmp_path / "p.npz", **pairs)
    p = load_detector_pairs(tmp_path / "p.npz")
    err = (project(p["landmarks_cam"], p["K"]) - p["keypoints_px"]).norm(dim=-1).mean(-1)
    size = (p["keypoints_px"].amax(1) - p["keypoints_px"].amin(1)).amax(-1)
    assert len(err) > 300 and float((err / size).median()) < 0.15  # measured 0.115
    # the same hands turned about the camera axis stay on their ground truth
    g = torch.Generator().manual_seed(0)
    batch = {"K": p["K"][:64], "keypoints_cam": p["keypoints_cam"][:64], "landmarks_cam": p["landmarks_cam"][:64]}
    obs = {k: p[k][:64] for k in ("keypoints_px", "keypoints_rel", "scores")}
    b, o = mix_pairs(batch, obs, p, 1.0, g, rotate_deg=180)
    err_r = (project(b["landmarks_cam"], b["K"]) - o["keypoints_px"]).norm(dim=-1).mean(-1)
    size_r = (o["keypoints_px"].amax(1) - o["keypoints_px"].amin(1)).amax(-1)
    assert float((err_r / size_r).median()) < 0.15


@pytest.mark.skipif(not (PAIRS / "train.npz").exists(), reason="committed pairs not present")
def test_committed_pairs_hold_out_whole_subjects():
    train, val = (np.load(PAIRS / f"{s}.npz") for s in ("train", "val"))
    assert set(train["subject"].tolist()).isdisjoint(val["subject"].tolist())
    test = np.load(ROOT / "datasets" / "handeval" / "test" / "stills.npz")
    assert set(train["subject"].tolist()).isdisjoint(test["subject"].tolist())
    assert not set(train["image"].tolist()) & set(val["image"].tolist())


@pytest.mark.skipif(not (PAIRS / "val.npz").exists(), reason="committed pairs not present")
def test_training_on_rotated_real_pairs_chooses_best_on_held_out_pairs(tmp_path):
    from training.train import train

    tiny = {"model": {"width": 32, "blocks": 1},
            "data": {"scenes": 128, "pairs": {"path": str(PAIRS / "val.npz"), "fraction": 0.5, "rotate_deg": 180}},
            "val": {"scenes": 16, "pairs": str(PAIRS / "val.npz")},
            "optim": {"batch_size": 16, "steps": 3, "warmup": 1}, "log_every": 1, "ckpt_every": 1,
            "out_dir": str(tmp_path / "a")}
    a = train("keypoints", None, tiny, progress=False)
    assert np.isfinite(a["val"]["pairs_pa_mpjpe_mm"]) and np.isfinite(a["val"]["pairs_cs_mje_mm"])
    assert (tmp_path / "a" / "best.pt").exists()


TEST = ROOT / "datasets" / "handeval" / "test"


@pytest.mark.skipif(not (TEST / "detections.npz").exists(), reason="people test split not present")
def test_detect_chunks_matches_the_cached_split_detections(tmp_path):
    """Real MediaPipe on two test stills laid out as a render chunk (images linked, not copied):
    the same matches as the split's cached detections; a chunk whose images are missing waits."""
    from training.detector_pairs import detect_chunks

    gt = dict(np.load(TEST / "stills.npz"))
    (tmp_path / "chunks").mkdir()
    np.savez(tmp_path / "chunks" / "chunk_000.npz", **{k: v[:2] for k, v in gt.items()})
    np.savez(tmp_path / "chunks" / "chunk_001.npz", **{**{k: v[2:3] for k, v in gt.items()},
                                                        "image": np.array(["images/missing.jpg"])})
    (tmp_path / "images").symlink_to(TEST / "images")
    d = detect_chunks(tmp_path, tmp_path / "cache", log=None)
    ref = dict(np.load(TEST / "detections.npz"))
    assert len(d["image"]) == 2 and (tmp_path / "cache" / "chunk_000.npz").exists()
    np.testing.assert_array_equal(d["found"], ref["found"][:2])
    ok = d["found"]
    np.testing.assert_allclose(d["keypoints_px"][ok], ref["keypoints_px"][:2][ok], atol=2.0)
    again = detect_chunks(tmp_path, tmp_path / "cache", log=None)  # cached: no detector run
    np.testing.assert_array_equal(again["keypoints_px"], d["keypoints_px"])


@pytest.mark.skipif(not (TEST / "detections.npz").exists(), reason="people test split not present")
def test_second_look_detections_go_to_their_own_file(tmp_path):
    """`--second-look`: the photos mode's detector, cached as detections_second_look.npz beside
    (never in place of) the first look's detections.npz."""
    from handmocap.detect import MediaPipeHandDetector
    from handmocap.video import Frame, read_image
    from training.detector_pairs import load_or_detect

    gt = dict(np.load(TEST / "stills.npz"))
    np.savez(tmp_path / "stills.npz", **{k: v[:3] for k, v in gt.items()})
    (tmp_path / "images").symlink_to(TEST / "images")
    d = load_or_detect(tmp_path, log=None, second_look=True)
    assert (tmp_path / "detections_second_look.npz").exists() and not (tmp_path / "detections.npz").exists()
    with MediaPipeHandDetector(max_hands=2, mode="image", second_look=True) as det:
        for i in range(3):
            hands = det.detect(Frame(0, 0.0, read_image(tmp_path / str(gt["image"][i])))).hands
            for s in np.flatnonzero(d["found"][i]):
                assert min(np.abs(h.keypoints_px - d["keypoints_px"][i, s]).max() for h in hands) < 1e-6
    assert d["found"][:3].any()
