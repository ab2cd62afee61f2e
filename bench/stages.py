"""Per-stage speed of the tracker on one clip, every stage timed in the same run.

Stages: decode, detect, associate, estimate (fitting or model), DGP, filter, and each
export. Prints frames/s per stage and its share of the total, and the whole pipeline's
frames/s relative to the detector alone (a ratio, so it holds across machines).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch


def _clock(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def time_stages(video: Path, calib: Path | None, estimator: str = "model", exports=("glb", "preview"),
                out_dir: Path = Path("out/bench")) -> dict:
    """Seconds per stage for tracking `video` once; returns {"frames": T, "stages": {...}}."""
    from handmocap.camera.intrinsics import Intrinsics
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector
    from handmocap.export import export_motion
    from handmocap.hand import HandModel
    from handmocap.motion import CameraInfo, Motion, Track
    from handmocap.solve.dgp import solve_translation
    from handmocap.track.associate import associate_tracks
    from handmocap.track.filters import smooth_track
    from handmocap.track.pipeline import _estimator, TrackOptions
    from handmocap.video import open_frames, probe

    info = probe(video)
    intr = Intrinsics.from_file(calib).resized(info.width, info.height) if calib else None
    K = intr.K(dtype=torch.float64).numpy() if intr else None
    stages = {}
    frames, stages["decode"] = _clock(lambda: list(open_frames(video)))
    with MediaPipeHandDetector() as det:
        detections, stages["detect"] = _clock(lambda: [det.detect(f) for f in frames])
    raw, stages["associate"] = _clock(lambda: associate_tracks(detections))
    estimate = _estimator(TrackOptions(estimator=estimator))
    tracks, t_est, t_dgp, t_filter = [], 0.0, 0.0, 0.0
    for k, r in enumerate(raw):
        hand = HandModel(side=r.side)
        fit, dt = _clock(lambda: estimate(r.keypoints_px, r.keypoints_rel, r.scores, K, r.side, hand,
                                          intrinsics=intr))
        t_est += dt
        # DGP alone, as the tracker's final placement does it (timed separately)
        args = [torch.as_tensor(np.asarray(a, dtype=np.float64)) for a in
                (r.keypoints_px, fit.keypoints_cam - fit.keypoints_cam[:, :1], fit.confidence, K)]
        _, dt = _clock(lambda: solve_translation(*args))
        t_dgp += dt
        fit, dt = _clock(lambda: smooth_track(fit, r.timestamp_s, hand, K))
        t_filter += dt
        tracks.append(Track(k, r.side, r.frame_index, r.timestamp_s, fit.global_orient, fit.hand_pose, fit.betas,
                            fit.transl, r.keypoints_px, fit.keypoints_cam, r.keypoints_rel, fit.confidence, r.score,
                            r.detected, fit.reprojection_px))
    stages[estimator] = t_est
    stages["dgp"] = t_dgp
    stages["filter"] = t_filter
    motion = Motion(str(video), info.fps, len(frames), (info.width, info.height),
                    CameraInfo("perspective", tuple(map(tuple, K.tolist())), "calibration", (info.width, info.height)),
                    HandModel().model_id, tracks)
    for fmt in exports:
        _, stages[f"export {fmt}"] = _clock(lambda: export_motion(motion, [fmt], out_dir, video.stem, video=video))
    return {"frames": len(frames), "hands": len(tracks), "size": (info.width, info.height), "stages": stages}


def stage_table(result: dict) -> str:
    """Markdown table: stage, seconds, frames/s, share of the total."""
    T, st = result["frames"], result["stages"]
    total = sum(st.values())
    rows = ["| stage | s | frames/s | share |", "|---|---:|---:|---:|"]
    for name, s in st.items():
        rows.append(f"| {name} | {s:.2f} | {T / s if s else float('inf'):.1f} | {100 * s / total:.1f}% |")
    rows.append(f"| **total** | {total:.2f} | {T / total:.1f} | 100% |")
    ratio = (T / total) / (T / st["detect"])
    rows.append(f"\nwhole pipeline / detector alone (frames/s ratio, same run): **{ratio:.2f}**")
    return "\n".join(rows)


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("video", type=Path, nargs="?", default=Path("examples/hand_wave.mp4"))
    ap.add_argument("--calib", type=Path, default=Path("examples/hand_wave.calib.json"))
    ap.add_argument("--estimator", default="model")
    args = ap.parse_args()
    r = time_stages(args.video, args.calib, args.estimator)
    print(f"# tracker stages: {args.video.name} ({r['size'][0]}x{r['size'][1]}, {r['frames']} frames, "
          f"{r['hands']} hand(s), estimator {args.estimator})\n")
    print(stage_table(r))


if __name__ == "__main__":
    main()
