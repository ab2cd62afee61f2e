"""The refinement on real detector output: real MediaPipe on a rendered clip with exact ground
truth. It must not make the model's pose worse (the old `--refine` did: 10.5 vs 7.4 mm
PA-MPJPE). With the models before v4 it also placed the hand better (v1: CS-MJE 23.8 vs 28.1 mm
over the clips; v3: 20.8 vs 23.4); v4, trained on more real MediaPipe output, places the hand
better on its own (21.3 mm) and the refinement now costs placement there (22.6 mm; on this
clip 26.0 vs 23.4 mm), so the placement bound is "not much worse", not "better"."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.accuracy import ReplayDetector
from handmocap.geometry.metrics import pa_mpjpe
from handmocap.track.pipeline import TrackOptions, track_input

DATA = Path(__file__).resolve().parents[1] / "data" / "videos"


@pytest.mark.slow
def test_refine_keeps_the_pose_and_the_placement_on_mediapipe_output():
    from handmocap.detect import MediaPipeHandDetector
    from handmocap.video import open_frames

    video, gt = DATA / "one_hand.mp4", np.load(DATA / "one_hand.gt.npz")
    with MediaPipeHandDetector() as det:
        dets = [det.detect(f) for f in open_frames(video)]
    base = TrackOptions(intrinsics=DATA / "one_hand.calib.json")
    errors = {}
    for name, opts in (("model", base), ("refine", replace(base, refine=True))):
        track = max(track_input(video, opts, detector=ReplayDetector(dets)).tracks, key=len)
        kp = gt["hand0_keypoints_cam"][track.frame_index]
        errors[name] = (np.linalg.norm(track.keypoints_cam - kp, axis=-1).mean(),
                        float(np.mean(pa_mpjpe(track.keypoints_cam, kp))))
    (cs_m, pa_m), (cs_r, pa_r) = errors["model"], errors["refine"]
    print(f"model CS-MJE {cs_m * 1000:.1f} PA {pa_m * 1000:.2f}; refine CS-MJE {cs_r * 1000:.1f} PA {pa_r * 1000:.2f} mm")
    assert pa_r < pa_m + 0.0003  # the pose is not pulled towards MediaPipe's 3D
    assert cs_r < cs_m + 0.004  # placement within 4 mm of the model's (measured +2.6 mm with v4)
