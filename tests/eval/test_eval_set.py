"""The tracker on a subset of the people evaluation set (rendered anny bodies, not our hand
model; `tools/render_eval_set.py`): real MediaPipe on the first stills of the test split,
each with its own K, and one clip through `track_input` with the true K. The bounds sit a
little above the figures measured on this subset (in the comments), so a regression fails."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.eval_set import VIEWS, _clip_extras, photo_rows, summarise

SPLIT = Path(__file__).resolve().parents[2] / "datasets" / "handeval" / "test"
N_STILLS = 30  # the split's views come in turn: 6 of each
# measured on these 30 stills through the photos mode (`track_still`, each with its own K;
# default still views: MediaPipe's second look at each hand, retries where the plain image gives
# no hand, the stills' handedness classifier), keypoint model v4: hands found 83%, handedness
# right 96% of found, PA-MPJPE 18.0 mm, CS-MJE with the true hand length median 37.8 mm (first
# look, sessions 5-7: 80%, 100%, 18.3 mm, 39.8 mm; v1 with one plain look and MediaPipe's label:
# 67%, 90%, 19.8 mm). The median: one partial hand by the face, found by both looks, lands ~1 m
# too far with the length given, and the mean of 25 hands follows it (85.0 mm; first look 45.9)
FOUND_MIN = 0.77
HANDEDNESS_MIN = 0.90
PA_MPJPE_MAX_MM = 19.5
CS_MJE_LENGTH_MEDIAN_MAX_MM = 45.0
# the right-hand clip (60 frames, 480x360, H.264), measured with v4: found 100%, PA-MPJPE
# 14.5 mm (v3: 14.0, v1: 17.2), CS-MJE 88.6 mm (v3: 78.8, v1: 95.8; the hand lands 83 mm too
# far: the size ambiguity, not the pose), labelled right; jitter 10.5 mm/frame^2 against the
# GT's own 7.2 (18.0 before the placement was smoothed as ray + log-depth, orientation beta / 5)
CLIP = "right_hand"
CLIP_FOUND_MIN = 0.93
CLIP_PA_MPJPE_MAX_MM = 16.0
CLIP_CS_MJE_MAX_MM = 100.0
CLIP_JITTER_OVER_GT_MAX = 5.0  # mm/frame^2 over the GT's own


@pytest.fixture(scope="session")
def still_rows():
    return photo_rows(SPLIT, limit=N_STILLS)


def test_stored_rows_keep_the_previous_model_beside_later_ones():
    from bench.eval_set import stored_rows

    rows = stored_rows()
    assert len(rows) >= 2 and rows[0]["label"] == "commit 5c9fbac"
    assert all(set(VIEWS) <= set(r["stills"]) and r["clips"] for r in rows)


def test_subset_covers_every_view():
    views = np.load(SPLIT / "stills.npz")["view"][:N_STILLS]
    assert {str(v) for v in views} == set(VIEWS)


@pytest.mark.xdist_group("eval_set")
def test_stills_accuracy(still_rows):
    s = summarise(still_rows)["all"]
    assert s["n"] == N_STILLS
    assert s["found"] >= FOUND_MIN, s
    assert s["handedness_ok"] >= HANDEDNESS_MIN, s
    assert s["pa_mpjpe"] <= PA_MPJPE_MAX_MM, s
    cs_length = np.median([r["cs_mje_L"] for r in still_rows if r["found"]])
    assert cs_length <= CS_MJE_LENGTH_MEDIAN_MAX_MM, (cs_length, s)


@pytest.mark.xdist_group("eval_set")
def test_clip_accuracy():
    from bench.accuracy import metrics
    from handmocap.track.pipeline import TrackOptions, track_input

    stem = SPLIT / "clips" / CLIP
    gt = dict(np.load(str(stem) + ".gt.npz"))
    motion = track_input(Path(str(stem) + ".mp4"), TrackOptions(intrinsics=Path(str(stem) + ".calib.json")))
    m = metrics([t.keypoints_cam for t in motion.tracks], motion, gt, with_mesh=False)
    extra = _clip_extras(motion, gt)
    assert extra["side_ok"], "the clip's hand is tracked with the wrong side"
    assert m["found"] >= CLIP_FOUND_MIN, m
    assert m["pa_mpjpe_mm"] <= CLIP_PA_MPJPE_MAX_MM, m
    assert m["cs_mje_mm"] <= CLIP_CS_MJE_MAX_MM, m
    assert extra["jitter"] <= extra["jitter_gt"] + CLIP_JITTER_OVER_GT_MAX, extra
