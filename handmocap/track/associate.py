"""Hand tracks from per-frame detections: identity across frames, dropouts bridged, swaps repaired.

Per frame, detections are matched to the live tracks by the Hungarian method
(`scipy.optimize.linear_sum_assignment`) on

    cost = mean keypoint distance / hand size  +  side_weight * P(detected side != track side)

The keypoint distance (all 21 2D keypoints against the track's last position, moved on by its
velocity over the gap) keeps identity while hands move continuously, also when the detector's
handedness labels flip for a while (a classic swap); the handedness term decides when the
hands are close or crossing. A track's side is the score-weighted vote of the labels it
collected, so short label flips do not change it. Gaps of up to `max_gap` frames are bridged
by linear interpolation (detected=False, score 0); a track unmatched for longer ends, and
tracks of the same side that never overlap in time are joined into one (one identity per
hand over the whole video; the gap between them stays a gap, not interpolated).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from ..errors import InputError

BRIDGED_WEIGHT = 0.2  # fitting weight of interpolated keypoints, relative to the detector score


@dataclass
class RawTrack:
    """One hand over time, before fitting (numpy arrays, T frames of this track).

    Attributes:
        side: "right" or "left" (score-weighted vote of the detector's labels).
        frame_index: (T,) int, increasing video frame indices.
        timestamp_s: (T,) seconds.
        keypoints_px: (T, 21, 2) pixels (interpolated on bridged frames).
        keypoints_rel: (T, 21, 3) metres, detector's metric keypoints.
        scores: (T, 21) fitting weights: the detection score, BRIDGED_WEIGHT times the
            interpolated score on bridged frames.
        score: (T,) detection score, 0 on bridged frames.
        detected: (T,) bool, False on bridged frames.
        handedness: (T,) the detector's label per frame ("" on bridged frames).
    """

    side: str
    frame_index: np.ndarray
    timestamp_s: np.ndarray
    keypoints_px: np.ndarray
    keypoints_rel: np.ndarray
    scores: np.ndarray
    score: np.ndarray
    detected: np.ndarray
    handedness: np.ndarray

    def __len__(self) -> int:
        return len(self.frame_index)


@dataclass
class _Live:
    frames: list = field(default_factory=list)  # (frame_index, timestamp, HandDetection)
    votes: dict = field(default_factory=lambda: {"left": 0.0, "right": 0.0})

    @property
    def side(self) -> str:
        return "left" if self.votes["left"] > self.votes["right"] else "right"

    def predict(self, frame: int) -> np.ndarray:
        """(21, 2) pixels expected at `frame` (constant velocity from the last two detections)."""
        f1, _, d1 = self.frames[-1]
        p1 = np.asarray(d1.keypoints_px, dtype=np.float64)
        if len(self.frames) < 2:
            return p1
        f0, _, d0 = self.frames[-2]
        v = (p1 - np.asarray(d0.keypoints_px, dtype=np.float64)) / max(f1 - f0, 1)
        return p1 + v * min(frame - f1, 3)  # do not extrapolate far into a dropout


def _size_px(kp: np.ndarray) -> float:
    ext = kp.max(0) - kp.min(0)
    return float(max(np.hypot(*ext), 10.0))


def _side_prob(det, side: str) -> float:
    """P(the detection's true side is not `side`) from its label and handedness score."""
    p = float(np.clip(getattr(det, "handedness_score", 1.0), 0.5, 1.0))
    return 1.0 - p if det.handedness == side else p


def _dedupe(hands, overlap: float) -> list:
    """Drop a detection whose keypoints nearly coincide with a better-scored one (the same
    hand found twice, often with both labels)."""
    kept = []
    for h in sorted(hands, key=lambda h: -float(h.score)):
        kp = np.asarray(h.keypoints_px, dtype=np.float64)
        if all(np.linalg.norm(kp - np.asarray(k.keypoints_px), axis=-1).mean() > overlap * _size_px(kp)
               for k in kept):
            kept.append(h)
    return kept


def drop_duplicate_hands(hands, overlap: float = 0.1) -> list:
    """The hands of one frame without duplicates (the same hand found twice, often with both
    labels), best score first: a hand whose mean keypoint distance to a better one is below
    `overlap` times its size is dropped."""
    return _dedupe(list(hands), overlap)


def associate_tracks(detections: Sequence, *, max_gap: int = 8, side_weight: float = 1.0,
                     max_cost: float = 2.5, min_detections: int = 3, duplicate_overlap: float = 0.1,
                     join_same_side: bool = True) -> list[RawTrack]:
    """Turn per-frame detections into hand tracks.

    Args:
        detections: `FrameDetections` in frame order (index, timestamp_s, hands).
        max_gap: longest run of missed frames that is bridged by interpolation.
        side_weight: cost of a handedness mismatch, in hand sizes of 2D distance.
        max_cost: a detection farther than this (cost units) from every track starts a new one.
        min_detections: tracks with fewer detected frames are dropped (spurious detections).
        duplicate_overlap: detections closer than this (mean keypoint distance / hand size)
            to a better one in the same frame are duplicates.
        join_same_side: join same-side tracks that do not overlap in time.

    Returns:
        Tracks ordered right first, then by first frame.
    """
    if max_gap < 0 or side_weight < 0 or max_cost <= 0:
        raise InputError(None, "associate_tracks: need max_gap >= 0, side_weight >= 0, max_cost > 0")
    live: list[_Live] = []
    done: list[_Live] = []
    last_index = None
    for fd in detections:
        if last_index is not None and fd.index <= last_index:
            raise InputError(None, f"detections: frame indices must increase ({last_index} then {fd.index})")
        last_index = fd.index
        for tr in [t for t in live if fd.index - t.frames[-1][0] > max_gap + 1]:
            live.remove(tr)
            done.append(tr)
        hands = _dedupe(list(fd.hands), duplicate_overlap)
        if not hands:
            continue
        matched = set()
        for i, j in match_hands(live, hands, fd.index, side_weight, max_cost):
            _add(live[i], fd, hands[j])
            matched.add(j)
        for j, h in enumerate(hands):
            if j not in matched:
                tr = _Live()
                _add(tr, fd, h)
                live.append(tr)
    done.extend(live)
    done = [t for t in done if len(t.frames) >= min_detections]
    if join_same_side:
        done = _join(done)
    tracks = [_to_arrays(t, max_gap) for t in done]
    return sorted(tracks, key=lambda t: (t.side != "right", int(t.frame_index[0])))


def match_hands(live: list, hands: list, frame_index: int, side_weight: float, max_cost: float) -> list:
    """(track, hand) index pairs of one frame's optimal assignment: the cost is the mean 2D
    keypoint distance to each live track's predicted keypoints, in hand sizes, plus
    side_weight for a handedness mismatch; pairs costing more than max_cost stay unmatched."""
    from scipy.optimize import linear_sum_assignment

    if not live or not hands:
        return []
    cost = np.zeros((len(live), len(hands)))
    for i, tr in enumerate(live):
        pred = tr.predict(frame_index)
        for j, h in enumerate(hands):
            kp = np.asarray(h.keypoints_px, dtype=np.float64)
            dist = np.linalg.norm(kp - pred, axis=-1).mean() / _size_px(pred)
            cost[i, j] = dist + side_weight * _side_prob(h, tr.side)
    return [(int(i), int(j)) for i, j in zip(*linear_sum_assignment(cost)) if cost[i, j] <= max_cost]


def _add(tr: _Live, fd, h) -> None:
    tr.frames.append((fd.index, fd.timestamp_s, h))
    tr.votes[h.handedness if h.handedness in tr.votes else "right"] += float(h.score) * float(
        getattr(h, "handedness_score", 1.0))


def _join(tracks: list[_Live]) -> list[_Live]:
    """Join same-side tracks that do not overlap in time, earliest first."""
    out = []
    for side in ("right", "left"):
        group = sorted([t for t in tracks if t.side == side], key=lambda t: t.frames[0][0])
        chains: list[_Live] = []
        for t in group:
            target = next((c for c in chains if c.frames[-1][0] < t.frames[0][0]), None)
            if target is None:
                chains.append(t)
            else:
                target.frames.extend(t.frames)
                for k in target.votes:
                    target.votes[k] += t.votes[k]
        out.extend(chains)
    return out


def _to_arrays(tr: _Live, max_gap: int) -> RawTrack:
    """Detected frames plus interpolated bridged frames (gaps <= max_gap)."""
    idx, ts, px, rel, sc, det, lab = [], [], [], [], [], [], []
    prev = None
    for f, t, h in tr.frames:
        kp = np.asarray(h.keypoints_px, dtype=np.float64)
        kr = np.asarray(h.keypoints_rel, dtype=np.float64)
        s = float(h.score)
        if prev is not None and 1 < f - prev[0] <= max_gap + 1:
            f0, t0, kp0, kr0, s0 = prev
            for g in range(f0 + 1, f):
                a = (g - f0) / (f - f0)
                idx.append(g)
                ts.append(t0 + a * (t - t0))
                px.append((1 - a) * kp0 + a * kp)
                rel.append((1 - a) * kr0 + a * kr)
                sc.append(BRIDGED_WEIGHT * min(s0, s))
                det.append(False)
                lab.append("")
        idx.append(f)
        ts.append(t)
        px.append(kp)
        rel.append(kr)
        sc.append(s)
        det.append(True)
        lab.append(h.handedness)
        prev = (f, t, kp, kr, s)
    detected = np.array(det, bool)
    scores = np.repeat(np.array(sc, np.float32)[:, None], 21, 1)
    return RawTrack(side=tr.side, frame_index=np.array(idx, np.int64), timestamp_s=np.array(ts, np.float64),
                    keypoints_px=np.stack(px).astype(np.float32), keypoints_rel=np.stack(rel).astype(np.float32),
                    scores=scores, score=np.where(detected, np.array(sc), 0.0).astype(np.float32),
                    detected=detected, handedness=np.array(lab))


__all__ = ["BRIDGED_WEIGHT", "RawTrack", "associate_tracks", "drop_duplicate_hands", "match_hands"]
