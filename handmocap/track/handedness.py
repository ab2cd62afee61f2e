"""Which hand is it: the detector's label checked against what the 3D estimate says.

A left hand seen from the palm and a right hand seen from the back project alike in 2D, so a
detector's label can be wrong while its keypoints are fine. The keypoints carry the answer in
3D: the learned keypoint model is run on a detection twice, as a right hand and as a left hand
(the mirrored input), and each reading is scored by how well the hand it estimates explains
the detection: the detector's metric 3D keypoints (shape, after a similarity alignment),
its 2D keypoints (after DGP placement) and the joint limits. A hand of the wrong side can only
match by bending joints the wrong way or by disagreeing with the detector's 3D.

Per frame the evidence is a log-odds for "right" (geometry + the detector's own label,
weighted by its score); a track sums it over its frames (a vote), so a short wrong stretch
cannot flip a whole track. `relabel_tracks` is the tracker's hook, `relabel_detections` the stills'. Letters: T frames, J=21.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

GEOMETRY_TEMPERATURE = 0.05  # cost difference (relative residual units) worth one nat
LABEL_WEIGHT = 1.0  # weight of the detector label's log-odds beside the geometry
MAX_LABEL_LOGIT = 3.0  # cap: a confident but wrong label must not outvote clear geometry


@dataclass
class SideEvidence:
    """Per-frame evidence about a detection's side.

    Attributes:
        cost_right, cost_left: (T,) how badly the best right / left hand explains the keypoints.
        geometry_logit: (T,) log-odds for "right" from the costs alone.
        label_logit: (T,) log-odds for "right" from the detector's labels (0: no label).
    """

    cost_right: np.ndarray
    cost_left: np.ndarray
    geometry_logit: np.ndarray
    label_logit: np.ndarray

    @property
    def logit(self) -> np.ndarray:
        """(T,) combined log-odds for "right"."""
        return self.geometry_logit + LABEL_WEIGHT * self.label_logit


def _similarity_residual(a: torch.Tensor, b: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """RMS distance (B,) between a and b (B, J, 3) after aligning a to b by a similarity,
    relative to b's RMS extent."""
    from ..geometry.procrustes import similarity_procrustes

    s, R, t = similarity_procrustes(a, b, w + 1e-9, scale=True)
    aligned = s[:, None, None] * a @ R.transpose(-1, -2) + t[:, None]
    bc = b - (w[..., None] * b).sum(1, keepdim=True) / w.sum(1).clamp_min(1e-9)[:, None, None]
    ext = ((w * (bc ** 2).sum(-1)).sum(-1) / w.sum(-1).clamp_min(1e-9)).sqrt().clamp_min(1e-6)
    r = ((w * ((aligned - b) ** 2).sum(-1)).sum(-1) / w.sum(-1).clamp_min(1e-9)).sqrt()
    return r / ext


def side_costs(keypoints_px, keypoints_rel, scores, K) -> tuple[np.ndarray, np.ndarray]:
    """How badly the keypoint model's right-hand and left-hand readings explain each frame.

    Args:
        keypoints_px: (T, J, 2) pixels.  keypoints_rel: (T, J, 3) metres, camera-aligned.
        scores: (T, J) or (T,) in [0, 1].  K: (3, 3) intrinsics (the assumed ones if unknown).

    Returns:
        (cost_right (T,), cost_left (T,)): relative 3D shape residual + relative 2D residual
        + joint-limit penalty of each reading.
    """
    from ..solve.fitting import _cpu_threads

    with _cpu_threads(torch.device("cpu")), torch.no_grad():  # small batches: one thread is faster
        return _side_costs(keypoints_px, keypoints_rel, scores, K)


def _side_costs(keypoints_px, keypoints_rel, scores, K):
    from ..camera.pinhole import project
    from ..hand import HandModel
    from ..hand.limits import build_joint_limits, limit_penalty
    from ..hand.mirror import mirror_points
    from ..nn.checkpoint import default_weights_path
    from ..nn.estimator import _cached_model, predict_right
    from ..nn.keypoint_model import KeypointDecoder
    from ..solve.detector_offsets import detector_matrix
    from ..solve.fitting import hand_size_px

    f = lambda x: torch.as_tensor(np.asarray(x, dtype=np.float32))  # noqa: E731
    px, rel, sc = f(keypoints_px), f(keypoints_rel), f(scores)
    sc = sc[:, None].expand(px.shape[:2]) if sc.dim() == 1 else sc
    finite = torch.isfinite(px).all(-1) & torch.isfinite(rel).all(-1) & torch.isfinite(sc)
    w = torch.where(finite, sc.clamp(0, 1), torch.zeros_like(sc))
    px = torch.where(finite[..., None], px, torch.zeros_like(px))
    rel = torch.where(finite[..., None], rel, torch.zeros_like(rel))
    Kt = f(K)
    model = _cached_model(str(default_weights_path()), "cpu")
    hand = HandModel()
    decoder = KeypointDecoder(hand)
    D = torch.tensor(detector_matrix(model.config.definition), dtype=torch.float32)
    limits = build_joint_limits(hand.asset)
    size = hand_size_px(px, w)
    costs = []
    for mirrored in (False, True):
        px_in = torch.stack([2 * Kt[0, 2] - px[..., 0], px[..., 1]], -1) if mirrored else px
        rel_in = mirror_points(rel) if mirrored else rel
        p = predict_right(model, decoder, D, px_in, rel_in, w, Kt, 512, shared_betas=False)
        lm = p["landmarks_cam"]
        e2d = (project(lm, Kt) - px_in).norm(dim=-1) / size[:, None]
        r2d = ((w * e2d ** 2).sum(-1) / w.sum(-1).clamp_min(1e-9)).sqrt()
        r3d = _similarity_residual(lm - lm.mean(1, keepdim=True), rel_in, w)
        lim = limit_penalty(p["hand_pose"] + decoder.hands_mean.reshape(1, 45), limits)
        costs.append((r3d + r2d + 0.1 * lim).numpy())
    return costs[0], costs[1]


def label_logits(labels, label_scores, cap: float = MAX_LABEL_LOGIT) -> np.ndarray:
    """(T,) log-odds for "right" from the detector's labels and their probabilities (at most
    `cap`, and probabilities clipped to [0.5, 0.999]; 0 where there is no label)."""
    labels = np.asarray(labels).astype(str)
    p = np.clip(np.asarray(label_scores, dtype=np.float64), 0.5, 0.999)
    logit = np.minimum(np.log(p / (1 - p)), cap)
    sign = np.where(labels == "right", 1.0, np.where(labels == "left", -1.0, 0.0))
    return sign * logit


def side_evidence(keypoints_px, keypoints_rel, scores, K, labels, label_scores) -> SideEvidence:
    """Per-frame evidence (`SideEvidence`) for one hand's frames."""
    cr, cl = side_costs(keypoints_px, keypoints_rel, scores, K)
    return SideEvidence(cr, cl, (cl - cr) / GEOMETRY_TEMPERATURE, label_logits(labels, label_scores))


def decide_side(evidence: SideEvidence, weights=None) -> str:
    """A track's side: the (weighted) vote of its frames' combined log-odds."""
    w = np.ones_like(evidence.logit) if weights is None else np.asarray(weights, dtype=np.float64)
    return "right" if float((w * evidence.logit).sum()) >= 0 else "left"


def relabel_tracks(tracks: list, K) -> list:
    """The tracker's hook: each `associate.RawTrack` gets the side its frames vote for.

    Two tracks that overlap in time keep different sides: when both vote for the same side,
    the one with the weaker vote takes the other side.
    """
    if not tracks:
        return tracks
    votes = []
    for t in tracks:
        det = np.asarray(t.detected, dtype=bool)
        label_scores = np.where(det, np.asarray(t.score, dtype=np.float64), 0.5)
        ev = side_evidence(t.keypoints_px, t.keypoints_rel, t.scores, K, t.handedness, label_scores)
        votes.append(float((det * ev.logit).sum()))
    sides = ["right" if v >= 0 else "left" for v in votes]
    for i in range(len(tracks)):
        for j in range(i + 1, len(tracks)):
            if sides[i] == sides[j] and _overlap(tracks[i], tracks[j]):
                weaker = i if abs(votes[i]) < abs(votes[j]) else j
                sides[weaker] = "left" if sides[weaker] == "right" else "right"
    return [t if s == t.side else replace(t, side=s) for t, s in zip(tracks, sides)]


def relabel_detections(hands: list, K) -> list:
    """The stills' hook: each `HandDetection` of one image gets the side its evidence (3D
    geometry + the detector's label) says; two hands of one image keep different sides (the
    weaker decision gives way, as in `relabel_tracks`)."""
    if not hands:
        return hands
    ev = side_evidence(np.stack([h.keypoints_px for h in hands]), np.stack([h.keypoints_rel for h in hands]),
                       np.array([h.score for h in hands]), K, [h.handedness for h in hands],
                       [h.handedness_score for h in hands])
    votes = ev.logit
    sides = ["right" if v >= 0 else "left" for v in votes]
    if len(hands) == 2 and sides[0] == sides[1]:
        weaker = 0 if abs(votes[0]) < abs(votes[1]) else 1
        sides[weaker] = "left" if sides[weaker] == "right" else "right"
    return [h if s == h.handedness else replace(h, handedness=s) for h, s in zip(hands, sides)]


def _overlap(a, b) -> bool:
    return bool(np.intersect1d(a.frame_index, b.frame_index).size)


__all__ = ["SideEvidence", "decide_side", "label_logits", "relabel_detections", "relabel_tracks", "side_costs",
           "side_evidence"]
