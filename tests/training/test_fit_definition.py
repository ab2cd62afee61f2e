"""Measuring a detector's landmark definition (`training.fit_definition`): landmarks made from
known joints by a known definition, plus noise, give that definition back; what is stored loads
as a valid definition matrix."""
from __future__ import annotations

import numpy as np

from handmocap.hand import HandModel
from handmocap.hand.poses import sample_hand_pose
from handmocap.solve.detector_offsets import detector_matrix
from training.fit_definition import as_json, error, fit_definition, neighbours


def _projected_hands(n: int, seed: int) -> np.ndarray:
    """(n, 21, 2) pixels of the open hand model's joints, random poses, 0.4-0.8 m away."""
    import torch

    rng = np.random.default_rng(seed)
    with torch.no_grad():
        kp = HandModel()(hand_pose=sample_hand_pose(n, seed=seed).float()).keypoints.numpy().astype(np.float64)
    cam = kp + np.c_[rng.uniform(-0.1, 0.1, (n, 2)), rng.uniform(0.4, 0.8, n)][:, None]
    return 600.0 * cam[..., :2] / cam[..., 2:] + 320.0


def _definition(seed: int) -> np.ndarray:
    """A random definition of the shape `fit_definition` fits (rows summing to 1)."""
    rng = np.random.default_rng(seed)
    D = np.eye(21)
    for lm in range(21):
        w = rng.uniform(-0.1, 0.4, len(neighbours(lm)))
        D[lm, lm], D[lm, neighbours(lm)] = 1.0 - w.sum(), w
    return D


def test_a_known_definition_is_measured_back_through_noise():
    joints = _projected_hands(400, seed=3)
    D = _definition(seed=5)
    rng = np.random.default_rng(7)
    landmarks = np.einsum("lk,nkc->nlc", D, joints) + rng.normal(0, 1.5, joints.shape)  # 1.5 px noise
    fitted = fit_definition(joints, landmarks)
    assert np.abs(fitted - D).max() < 0.03
    assert np.allclose(fitted.sum(1), 1.0)
    assert error(fitted, joints, landmarks) < error(np.eye(21), joints, landmarks)


def test_the_stored_people_definition_is_a_valid_definition():
    D = detector_matrix("mediapipe_people")  # loading checks that every row sums to 1
    assert D.shape == (21, 21)
    for lm in range(21):
        assert set(np.flatnonzero(D[lm])) <= {lm, *neighbours(lm)}
    # and the JSON writer's rounding keeps rows summing to 1
    rows = as_json(_definition(seed=9))
    assert all(abs(sum(c.values()) - 1.0) < 1e-9 for c in rows.values())
