"""Handedness from the 3D evidence (`handmocap.track.handedness`): real MediaPipe on a real
photo (right04.jpg shows a LEFT hand, tests/detect/handphoto.py) and its mirror, and
synthetic tracks whose labels are wrong."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from handmocap.track.handedness import decide_side, relabel_tracks, side_evidence

RIGHT04 = Path("/usr/share/doc/opencv-doc/examples/data/right04.jpg")


@pytest.fixture(scope="module")
def photo_hands():
    """(true side, detection, K) for right04.jpg and its mirror image."""
    if not RIGHT04.is_file():
        pytest.fail(f"{RIGHT04} is missing: apt-get install opencv-doc", pytrace=False)
    from handmocap.camera.weak_perspective import assumed_intrinsics
    from handmocap.detect import MediaPipeHandDetector
    from handmocap.video import Frame, read_image

    img = read_image(RIGHT04)
    H, W = img.shape[:2]
    K = assumed_intrinsics(W, H).K().numpy()
    out = []
    with MediaPipeHandDetector(mode="image") as det:
        for truth, im in (("left", img), ("right", np.ascontiguousarray(img[:, ::-1]))):
            hands = det.detect(Frame(0, 0.0, im)).hands
            assert hands, "MediaPipe found no hand in right04.jpg"
            Km = K.copy()
            if truth == "right":
                Km[0, 2] = W - 1 - K[0, 2]
            out.append((truth, hands[0], Km))
    return out


def test_geometry_names_the_true_hand_in_a_real_photo_and_its_mirror(photo_hands):
    for truth, h, K in photo_hands:
        ev = side_evidence(h.keypoints_px[None], h.keypoints_rel[None], np.ones(1), K, [h.handedness],
                           [h.handedness_score])
        geometry = "right" if ev.geometry_logit[0] > 0 else "left"
        assert geometry == truth
        # a wrong label (the palm/back confusion) is outvoted by the geometry
        wrong = {"left": "right", "right": "left"}[truth]
        ev_wrong = side_evidence(h.keypoints_px[None], h.keypoints_rel[None], np.ones(1), K, [wrong],
                                 [h.handedness_score])
        assert decide_side(ev_wrong) == truth


def _raw_track(t, side, label):
    from handmocap.track.associate import RawTrack

    T = t["keypoints_px"].shape[0]
    return RawTrack(side=side, frame_index=np.arange(T), timestamp_s=np.arange(T) / 30.0,
                    keypoints_px=t["keypoints_px"].numpy().astype(np.float64),
                    keypoints_rel=t["keypoints_rel"].numpy().astype(np.float64), scores=t["scores"].numpy(),
                    score=np.full(T, 0.9), detected=np.ones(T, bool), handedness=np.array([label] * T))


def test_track_vote_repairs_a_wrong_label_and_keeps_two_hands_apart():
    from handmocap.hand import HandModel
    from handmocap.hand.mirror import mirror_points
    from training.evaluate import synthetic_tracks

    right, other = synthetic_tracks(2, 12, 77, HandModel())
    K = right["K"].numpy()
    wrong = _raw_track(right, "left", "left")  # a right hand labelled left on every frame
    assert relabel_tracks([wrong], K)[0].side == "right"
    # the same hand in a mirror is a left hand: mirror the image about cx and the 3D about x
    mirrored = dict(right)
    px = right["keypoints_px"].clone()
    px[..., 0] = 2 * right["K"][0, 2] - px[..., 0]
    mirrored.update(keypoints_px=px, keypoints_rel=mirror_points(right["keypoints_rel"]))
    assert relabel_tracks([_raw_track(mirrored, "right", "right")], K)[0].side == "left"
    # two overlapping tracks never end up on the same side
    a, b = relabel_tracks([_raw_track(right, "right", "right"), _raw_track(right, "right", "right")], K)
    assert {a.side, b.side} == {"left", "right"}
    assert relabel_tracks([], K) == []


class _WrongLabels:
    """A real MediaPipe detector (IMAGE mode) whose handedness labels are all flipped: the
    palm/back confusion a detector makes on single images."""

    mode = "image"

    def __init__(self):
        from handmocap.detect import MediaPipeHandDetector

        self.inner = MediaPipeHandDetector(mode="image")

    def detect(self, frame):
        found = self.inner.detect(frame)
        flip = {"left": "right", "right": "left"}
        return replace(found, hands=tuple(replace(h, handedness=flip[h.handedness]) for h in found.hands))

    def close(self):
        self.inner.close()


def test_relabel_detections_repairs_wrong_labels_on_a_real_photo_and_its_mirror():
    from handmocap.track.handedness import relabel_detections
    from handmocap.video import Frame, read_image

    det = _WrongLabels()
    try:
        img = read_image(RIGHT04)
        H, W = img.shape[:2]
        for truth, im in (("left", img), ("right", np.ascontiguousarray(img[:, ::-1]))):
            hands = det.detect(Frame(0, 0.0, im)).hands
            assert hands[0].handedness != truth  # the label is wrong
            K = np.array([[0.866 * W, 0, (W - 1) / 2], [0, 0.866 * W, (H - 1) / 2], [0, 0, 1]])
            assert [h.handedness for h in relabel_detections(list(hands[:1]), K)] == [truth]
    finally:
        det.close()
