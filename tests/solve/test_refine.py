"""Refinement by fitting, warm-started from the learned model (`handmocap.solve.refine`)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from handmocap.hand import HandModel
from handmocap.solve.refine import RefineOptions, refine_frames, trust_3d


@pytest.fixture(scope="module")
def exact():
    """48 held-out hands (wide poses and shapes) seen by a perfect detector, and the
    shipped model's per-frame estimate of them."""
    from training.evaluate_exact import exact_set, model_prediction

    hand = HandModel()
    scenes, obs = exact_set(hand, 48, seed=4711)
    return hand, scenes, obs, model_prediction(None, hand, scenes, obs)


def _pa_mm(kp, scenes):
    from handmocap.geometry.metrics import pa_mpjpe

    return 1000 * float(pa_mpjpe(torch.as_tensor(kp).double(), scenes["keypoints_cam"].double()).mean())


def test_exact_keypoints_are_used_fully(exact):
    hand, scenes, obs, pred = exact
    r = refine_frames(obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], scenes["K"], hand, pred)
    before, after = _pa_mm(pred["keypoints_cam"], scenes), _pa_mm(r.keypoints_cam, scenes)
    assert after < 3.0 and after < before - 1.5, (before, after)
    assert r.betas.shape == (48, 10)  # per-frame shapes came in, per-frame shapes go out
    # the camera-space hand reprojects onto the exact keypoints (relative to the hand's size)
    px = obs["keypoints_px"].numpy()
    size = np.linalg.norm(px.max(1) - px.min(1), axis=-1)
    assert float(np.median(r.reprojection_px / size)) < 0.01


def test_trust_follows_agreement_of_3d_with_2d(exact):
    _, scenes, obs, _ = exact
    px, rel, w, K = obs["keypoints_px"], obs["keypoints_rel"], obs["scores"], scenes["K"]
    t_exact, a_exact, r_exact = trust_3d(px, rel, w, K, 0.01, 0.05)
    assert float(t_exact.min()) > 0.95 and float(a_exact.min()) > 0.95
    g = torch.Generator().manual_seed(0)
    bent = rel + 0.01 * torch.randn(rel.shape, generator=g)  # 1 cm of disagreement per keypoint
    t_bent, _, r_bent = trust_3d(px, bent, w, K, 0.01, 0.05)
    assert float(t_bent.mean()) < 0.5 * float(t_exact.mean())
    assert bool((r_bent > r_exact).all())


def test_untrusted_3d_keeps_the_models_pose(exact):
    hand, scenes, obs, pred = exact
    g = torch.Generator().manual_seed(1)
    bad_rel = obs["keypoints_rel"] + 0.02 * torch.randn(obs["keypoints_rel"].shape, generator=g)
    r = refine_frames(obs["keypoints_px"][:8], bad_rel[:8], obs["scores"][:8], scenes["K"][:8], hand,
                      {k: pred[k][:8] for k in ("global_orient", "hand_pose", "betas")})
    moved = np.abs(r.hand_pose - pred["hand_pose"][:8].numpy()).max()
    assert moved < 0.05  # radians: the anchor holds where the 3D disagrees with the 2D


def test_shared_shape_stays_and_options_apply(exact):
    hand, scenes, obs, pred = exact
    init = {"global_orient": pred["global_orient"][:4], "hand_pose": pred["hand_pose"][:4],
            "betas": pred["betas"][0]}
    K = scenes["K"][0]
    r = refine_frames(obs["keypoints_px"][:4], obs["keypoints_rel"][:4], obs["scores"][:4, 0], K, hand, init,
                      options=RefineOptions(iterations=0))  # per-hand scores (T,) are accepted too
    np.testing.assert_allclose(r.betas, pred["betas"][0].numpy(), atol=1e-6)
    np.testing.assert_allclose(r.hand_pose, pred["hand_pose"][:4].numpy(), atol=1e-5)
