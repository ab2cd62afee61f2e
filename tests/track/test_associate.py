"""Track association: identities kept through crossings, label swaps and dropouts."""
from __future__ import annotations

import numpy as np
import pytest

from handmocap.errors import InputError
from handmocap.track.associate import BRIDGED_WEIGHT, associate_tracks

try:
    from handmocap.detect.base import FrameDetections, HandDetection
except ImportError:  # detect/base.py is written in parallel; same fields as its documented API
    from dataclasses import dataclass

    @dataclass(frozen=True)
    class HandDetection:  # type: ignore[no-redef]
        keypoints_px: np.ndarray
        keypoints_rel: np.ndarray
        handedness: str
        handedness_score: float
        score: float

    @dataclass(frozen=True)
    class FrameDetections:  # type: ignore[no-redef]
        index: int
        timestamp_s: float
        hands: tuple
        image_size: tuple


SHAPE = np.random.default_rng(0).uniform(-40, 40, (21, 2))  # a ~110 px hand
REL = np.random.default_rng(1).normal(0, 0.03, (21, 3))


def _hand(centre, label, score=0.9, hs=0.95):
    return HandDetection(keypoints_px=(SHAPE + centre).astype(np.float32), keypoints_rel=REL.astype(np.float32),
                         handedness=label, handedness_score=hs, score=score)


def _video(paths, labels, missing=()):
    """paths: {name: (T, 2) centres}; labels: {name: (T,) labels}; missing: {(name, frame)}."""
    T = len(next(iter(paths.values())))
    frames = []
    for f in range(T):
        hands = tuple(_hand(paths[n][f], labels[n][f]) for n in paths if (n, f) not in missing)
        frames.append(FrameDetections(index=f, timestamp_s=f / 30.0, hands=hands, image_size=(1280, 720)))
    return frames


def _owner(track, paths):
    """Which true hand each frame of a track is closest to."""
    c = track.keypoints_px.mean(1)
    names = list(paths)
    d = np.stack([np.linalg.norm(c - (paths[n][track.frame_index] + SHAPE.mean(0)), axis=-1) for n in names])
    return [names[i] for i in d.argmin(0)]


def test_two_hands_crossing_keep_identity():
    T = 60
    x = np.linspace(200, 1000, T)
    paths = {"R": np.stack([x, np.full(T, 360.0)], 1), "L": np.stack([x[::-1], np.full(T, 380.0)], 1)}
    labels = {"R": ["right"] * T, "L": ["left"] * T}
    tracks = associate_tracks(_video(paths, labels))
    assert [t.side for t in tracks] == ["right", "left"]
    assert set(_owner(tracks[0], paths)) == {"R"} and set(_owner(tracks[1], paths)) == {"L"}
    assert all(len(t) == T and t.detected.all() for t in tracks)


def test_swapped_labels_are_repaired_by_position():
    T = 40
    paths = {"R": np.stack([np.linspace(800, 900, T), np.full(T, 300.0)], 1),
             "L": np.stack([np.linspace(300, 350, T), np.full(T, 320.0)], 1)}
    labels = {"R": ["right"] * T, "L": ["left"] * T}
    for f in range(15, 22):  # the detector swaps both labels for 7 frames
        labels["R"][f], labels["L"][f] = "left", "right"
    tracks = associate_tracks(_video(paths, labels))
    assert len(tracks) == 2
    right = next(t for t in tracks if t.side == "right")
    assert set(_owner(right, paths)) == {"R"} and len(right) == T
    assert list(right.handedness[15:22]) == ["left"] * 7  # the raw labels are kept for inspection


def test_dropouts_are_bridged_and_long_gaps_stay_gaps():
    T = 60
    paths = {"R": np.stack([np.linspace(200, 700, T), np.full(T, 300.0)], 1)}
    labels = {"R": ["right"] * T}
    short = {("R", f) for f in range(10, 14)}  # 4 frames: bridged
    long_gap = {("R", f) for f in range(30, 50)}  # 20 frames: not bridged, same identity after
    (track,) = associate_tracks(_video(paths, labels, short | long_gap), max_gap=8)
    assert track.side == "right"
    bridged = ~track.detected
    np.testing.assert_array_equal(track.frame_index[bridged], np.arange(10, 14))
    assert 30 not in track.frame_index and 50 in track.frame_index
    assert np.all(track.score[bridged] == 0) and np.allclose(track.scores[bridged], BRIDGED_WEIGHT * 0.9)
    # interpolated keypoints follow the straight path
    truth = paths["R"][10:14] + SHAPE.mean(0)
    np.testing.assert_allclose(track.keypoints_px[bridged].mean(1), truth, atol=0.5)
    assert np.all(np.diff(track.timestamp_s) > 0)


def test_duplicates_and_spurious_detections_are_dropped():
    T = 20
    frames = []
    for f in range(T):
        c = np.array([400.0 + 5 * f, 300.0])
        hands = (_hand(c, "right"), _hand(c + 1.0, "left", score=0.6))  # the same hand twice
        if f == 7:
            hands = hands + (_hand(np.array([1100.0, 600.0]), "left", score=0.5),)  # a one-frame blip
        frames.append(FrameDetections(index=f, timestamp_s=f / 30, hands=hands, image_size=(1280, 720)))
    tracks = associate_tracks(frames)
    assert len(tracks) == 1 and tracks[0].side == "right" and len(tracks[0]) == T


def test_empty_and_bad_input():
    assert associate_tracks([]) == []
    frames = _video({"R": np.zeros((3, 2))}, {"R": ["right"] * 3})
    with pytest.raises(InputError, match="increase"):
        associate_tracks([frames[1], frames[0]])
    with pytest.raises(InputError, match="max_gap"):
        associate_tracks(frames, max_gap=-1)
