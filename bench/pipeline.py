"""Whole-pipeline speed against the detector alone, all measured in one run.

Per clip and size:
- detector alone: `MediaPipeHandDetector` as the pipeline configures it (--hands both:
  up to two hands, periodic search) on frames decoded beforehand, side by side with a bare
  MediaPipe Tasks loop (same frames, same model files, asked for as many hands as the clip
  shows: the best a user's own loop could do) to show what the wrapper costs;
- tracking: `track_input` (decode, detect, associate, estimate, DGP, filter), wall clock;
- whole pipeline: `process_input` with the default exports (motion file + GLB + preview),
  i.e. what `handmocap track clip.mp4` does for one input, wall clock, with the MediaPipe
  graphs an earlier input of the process built (`graph_build_seconds`: what a process's first
  input pays more). The stages after
  detection run a bounded lag behind the detector in a second thread (`track.stream`) and
  the preview is drawn from the detector's own frames, so this approaches the detector's
  pace when a core is free for them.

Ratios are frames/s over the detector's frames/s, per repeat, then the median. Wall clock
is what a user waits; CPU time (this process, its threads and its waited-for children such
as the preview encoder) is reported beside it because it is far steadier on a loaded machine.
"""
from __future__ import annotations

import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

DEFAULT_EXPORTS = ("glb", "preview")  # + the motion file, which process_input always writes


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _timed(fn):
    t0, c0 = time.perf_counter(), _cpu()
    out = fn()
    return out, time.perf_counter() - t0, _cpu() - c0


def looped(video: Path, times: int, out: Path) -> Path:
    """`video` played `times` times in a row (stream copy, no re-encode)."""
    if times <= 1:
        return video
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", str(times - 1), "-i", str(video), "-c", "copy",
                    str(out)], check=True)
    return out


def measure(video: Path, calib: Path | None, visible_hands: int, repeats: int) -> dict:
    """Every figure for one clip; lists hold one value per repeat."""
    from handmocap.track.pipeline import TrackOptions, process_input, track_input

    from .hands import BareLoop, Wrapper, costs, decoded

    frames = decoded(video)
    T = len(frames)
    options = TrackOptions(intrinsics=calib)
    rec = {k: [] for k in ("detector_s", "detector_cpu_s", "bare_s", "bare_cpu_s", "tracking_s", "tracking_cpu_s",
                           "pipeline_s", "pipeline_cpu_s")}
    with tempfile.TemporaryDirectory(prefix="handmocap-bench-") as tmp:
        for _ in range(repeats):
            det = costs(frames, {"ours": lambda: Wrapper(2), "bare": lambda: BareLoop(visible_hands)})
            rec["detector_s"].append(det["ours"]["wall"][0] * T / 1000)
            rec["detector_cpu_s"].append(det["ours"]["cpu"][0] * T / 1000)
            rec["bare_s"].append(det["bare"]["wall"][0] * T / 1000)
            rec["bare_cpu_s"].append(det["bare"]["cpu"][0] * T / 1000)
            motion, wall, cpu = _timed(lambda: track_input(video, options))
            assert motion.num_frames == T, (motion.num_frames, T)
            rec["tracking_s"].append(wall)
            rec["tracking_cpu_s"].append(cpu)
            shutil.rmtree(Path(tmp) / "out", ignore_errors=True)
            result, wall, cpu = _timed(lambda: process_input(video, Path(tmp) / "out", options, list(DEFAULT_EXPORTS),
                                                             overwrite=True))
            if not result.ok:
                raise RuntimeError(result.error)
            rec["pipeline_s"].append(wall)
            rec["pipeline_cpu_s"].append(cpu)
    h, w = frames[0].image.shape[:2]
    return {"frames": T, "width": w, "height": h, "hands": visible_hands, **rec}


def figures(m: dict) -> dict:
    """The figures.json entry of one measured clip (medians; ratios per repeat, then median)."""
    T = m["frames"]

    def med(values):
        return float(statistics.median(values))

    def ratio(a, b):
        return med([x / y for x, y in zip(m[a], m[b])])

    return {
        "hands": m["hands"], "width": m["width"], "height": m["height"], "frames": T,
        "repeats": len(m["detector_s"]),
        "detector_fps": T / med(m["detector_s"]),
        "bare_mediapipe_fps": T / med(m["bare_s"]),
        "tracking_fps": T / med(m["tracking_s"]),
        "pipeline_fps": T / med(m["pipeline_s"]),
        "tracking_over_detector": ratio("detector_s", "tracking_s"),
        "pipeline_over_detector": ratio("detector_s", "pipeline_s"),
        "pipeline_over_detector_range": [min(x / y for x, y in zip(m["detector_s"], m["pipeline_s"])),
                                         max(x / y for x, y in zip(m["detector_s"], m["pipeline_s"]))],
        "wrapper_over_bare_wall": ratio("detector_s", "bare_s"),
        "wrapper_over_bare_cpu": ratio("detector_cpu_s", "bare_cpu_s"),
        "tracking_over_detector_cpu": ratio("detector_cpu_s", "tracking_cpu_s"),
        "pipeline_over_detector_cpu": ratio("detector_cpu_s", "pipeline_cpu_s"),
        "exports": ["motion", *DEFAULT_EXPORTS],
        "lag_frames": _lag_frames(),
    }


def graph_build_seconds(repeats: int = 3) -> float:
    """Median seconds MediaPipe takes to build one single-hand VIDEO landmarker graph. A
    process builds them once and keeps them for its next inputs (`_GraphPool`), so the
    pipeline figures are those of a batch's inputs after its first; a process's first input
    waits about two builds more."""
    from handmocap.detect.mediapipe_hands import MediaPipeHandDetector

    det = MediaPipeHandDetector(max_hands=1)
    try:
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            det._build(1, True).close()
            times.append(time.perf_counter() - t0)
        return float(statistics.median(times))
    finally:
        det.close()


def _lag_frames() -> dict:
    """The streamed tracker's windows (frames): outputs lag the detector by about their sum."""
    from handmocap.track.filters import SMOOTH_BLOCK_FRAMES, SMOOTH_LAG_FRAMES
    from handmocap.track.stream import SIDE_WINDOW_FRAMES

    return {"side_and_shape_window": SIDE_WINDOW_FRAMES, "smooth_block": SMOOTH_BLOCK_FRAMES,
            "smooth_lag": SMOOTH_LAG_FRAMES}


def table(entries: list[dict]) -> str:
    rows = ["| clip | frames | detector fps | bare MediaPipe fps | tracking fps | pipeline fps | "
            "tracking / detector | **pipeline / detector** [min, max] | pipeline / detector, CPU time | "
            "wrapper / bare, CPU time |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for e in entries:
        lo, hi = e["pipeline_over_detector_range"]
        rows.append(f"| {e['hands']} hand{'s' if e['hands'] > 1 else ''} {e['width']}x{e['height']} | {e['frames']} | "
                    f"{e['detector_fps']:.1f} | {e['bare_mediapipe_fps']:.1f} | {e['tracking_fps']:.1f} | "
                    f"{e['pipeline_fps']:.1f} | {e['tracking_over_detector']:.2f} | "
                    f"**{e['pipeline_over_detector']:.2f}** [{lo:.2f}, {hi:.2f}] | "
                    f"{e['pipeline_over_detector_cpu']:.2f} | {e['wrapper_over_bare_cpu']:.3f} |")
    return "\n".join(rows)


if __name__ == "__main__":
    import json
    import os
    import sys

    os.environ.setdefault("GLOG_minloglevel", "2")
    video = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("examples/hand_wave.mp4")
    calib = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("examples/hand_wave.calib.json")
    hands = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    e = figures(measure(video, calib, hands, 2))
    print(table([e]))
    print(json.dumps(e, indent=1))
