"""Detector cost per frame: our wrapper against a bare MediaPipe Tasks loop on the same decoded
frames and model files, and what searching for hands only every few frames saves and costs.

- `bare_loop`: HandLandmarker made from the same bundle, VIDEO mode, detect_for_video on
  every frame, nothing else: the floor our wrapper is held to (overhead <= 5%).
- one visible hand with --hands both (max_hands=2, periodic search) against --hands right
  (max_hands=1): target <= 1.2x.
- a hand entering while another is tracked (the second hand of two_hands.mp4 hidden for the
  first frames): how many frames later than MediaPipe's own every-frame search it is found.

The variants step through the same frames side by side (frame 1 through A, B, C, then frame
2 ...), so that load from other processes hits every variant alike; figures are medians of
the repeats.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np


def decoded(video: Path, loops: int = 1) -> list:
    """Every frame of `video`, repeated `loops` times with increasing indices and times."""
    from handmocap.video import Frame, open_frames, probe

    info = probe(video)
    frames = list(open_frames(video, info=info))
    period = len(frames) / info.fps
    return [Frame(k * len(frames) + f.index, k * period + f.timestamp_s, f.image)
            for k in range(loops) for f in frames]


class BareLoop:
    """A bare MediaPipe Tasks HandLandmarker (VIDEO mode), made from the same bundle: one
    `step(frame)` is what a user's own loop would do per frame, nothing else."""

    def __init__(self, num_hands: int):
        import mediapipe as mp
        from mediapipe.tasks.python import BaseOptions, vision

        from handmocap.detect.mediapipe_hands import hand_landmarker_bundle

        self._mp = mp
        options = vision.HandLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=hand_landmarker_bundle()),
            running_mode=vision.RunningMode.VIDEO, num_hands=num_hands)
        self._landmarker = vision.HandLandmarker.create_from_options(options)

    def step(self, frame):
        image = self._mp.Image(image_format=self._mp.ImageFormat.SRGB, data=frame.image)
        return self._landmarker.detect_for_video(image, int(round(frame.timestamp_s * 1000)))

    def close(self):
        self._landmarker.close()


class Wrapper:
    """`MediaPipeHandDetector` with every landmarker it may use made up front (graph creation
    is outside the timing, as for `BareLoop`)."""

    def __init__(self, max_hands: int, search_every: int | None = None):
        from handmocap.detect.mediapipe_hands import SEARCH_EVERY, MediaPipeHandDetector

        self.det = MediaPipeHandDetector(max_hands=max_hands, search_every=search_every or SEARCH_EVERY)
        self.det._prepare()  # graph start-ups outside the timing, as for bare
        self.step = self.det.detect

    def close(self):
        self.det.close()


def costs(frames, variants: dict, repeats: int = 1) -> dict[str, dict[str, list[float]]]:
    """{name: {"wall": [ms per frame], "cpu": [ms per frame]}, one value per repeat} for
    variants {name: () -> object with step(frame) and close()}.

    All variants step through the same frames side by side, one frame each in turn (the
    order rotating), so that load from other processes hits them alike; each keeps its own
    tracking state. "cpu" is the process's CPU time (all threads: MediaPipe infers in its
    own) spent inside each step: much less sensitive than wall time to other processes."""
    out = {k: {"wall": [], "cpu": []} for k in variants}
    for _ in range(repeats):
        runners = {k: make() for k, make in variants.items()}
        wall = dict.fromkeys(variants, 0.0)
        cpu = dict.fromkeys(variants, 0.0)
        try:
            names = list(runners)
            for i, f in enumerate(frames):
                for k in names[i % len(names):] + names[:i % len(names)]:  # no variant always first
                    r = runners[k]
                    t0, c0 = time.perf_counter(), time.process_time()
                    r.step(f)
                    cpu[k] += time.process_time() - c0
                    wall[k] += time.perf_counter() - t0
        finally:
            for r in runners.values():
                r.close()
        for k in variants:
            out[k]["wall"].append(1000 * wall[k] / len(frames))
            out[k]["cpu"].append(1000 * cpu[k] / len(frames))
    return out


def detections(frames, max_hands: int, search_every: int | None = None) -> list:
    w = Wrapper(max_hands, search_every)
    try:
        return [w.step(f) for f in frames]
    finally:
        w.close()


def entering_hand(video: Path, search_every: int | None = None) -> dict:
    """Frames until a hand entering while another is tracked is found, ours against
    MediaPipe's every-frame search: the right half of two_hands.mp4 is painted over with the
    background until frame `enter`, for every `enter` over one search period."""
    from handmocap.detect.mediapipe_hands import SEARCH_EVERY
    from handmocap.video import Frame

    n = search_every or SEARCH_EVERY
    frames = decoded(video)
    half = frames[0].image.shape[1] // 2
    background = np.median(frames[0].image[:, :half].reshape(-1, 3), axis=0).astype(np.uint8)
    late = []
    for enter in range(3, 3 + n):
        clip = []
        for f in frames[: enter + n + 2]:
            img = f.image
            if f.index < enter:
                img = img.copy()
                img[:, half:] = background
            clip.append(Frame(f.index, f.timestamp_s, img))

        def first_two(dets):
            return next((d.index for d in dets if d.index >= enter and len(d.hands) >= 2), None)

        a, b = first_two(detections(clip, 2, 1)), first_two(detections(clip, 2, n))
        late.append(None if a is None or b is None else b - a)
    found = [x for x in late if x is not None]
    return {"frames_late": late, "mean_frames_late": float(np.mean(found)) if found else None,
            "max_frames_late": max(found) if found else None, "search_every": n}


def run(repeats: int = 3, loops: int = 2) -> dict:
    """Every figure of this module as a dict (median ms per frame, ratios)."""
    from handmocap.detect.mediapipe_hands import SEARCH_EVERY

    one = decoded(Path("examples/hand_wave.mp4"), loops)
    variants = {
        "bare MediaPipe, num_hands=1": lambda: BareLoop(1),
        "bare MediaPipe, num_hands=2": lambda: BareLoop(2),
        "ours, --hands right (max_hands=1)": lambda: Wrapper(1),
        "ours, --hands both, search every frame": lambda: Wrapper(2, 1),
        f"ours, --hands both, search every {SEARCH_EVERY} frames": lambda: Wrapper(2),
    }
    ms = costs(one, variants, repeats)
    names = list(variants)

    def ratio(a, b, kind):
        return [x / y for x, y in zip(ms[names[a]][kind], ms[names[b]][kind])]

    return {"frames": len(one), "ms_per_frame": ms, "search_every": SEARCH_EVERY,
            "both_over_right": {k: ratio(4, 2, k) for k in ("cpu", "wall")},
            "wrapper_over_bare": {k: ratio(2, 0, k) for k in ("cpu", "wall")},
            "wrapper2_over_bare2": {k: ratio(3, 1, k) for k in ("cpu", "wall")},
            "entering": entering_hand(Path("tests/data/videos/two_hands.mp4"))}


def table(res: dict) -> str:
    def spread(v, f="{:.1f}"):
        return f"{f.format(statistics.median(v))} [{f.format(min(v))}, {f.format(max(v))}]"

    rows = [f"One visible hand (examples/hand_wave.mp4 twice, {res['frames']} frames), per frame "
            f"(median [min, max]):", "",
            "| detector | CPU ms/frame | wall ms/frame |", "|---|---:|---:|"]
    rows += [f"| {k} | {spread(v['cpu'])} | {spread(v['wall'])} |" for k, v in res["ms_per_frame"].items()]
    e = res["entering"]
    b, w, w2 = res["both_over_right"], res["wrapper_over_bare"], res["wrapper2_over_bare2"]
    rows += ["",
             f"- --hands both / --hands right on one visible hand: **{spread(b['cpu'], '{:.2f}')}x** CPU, "
             f"{spread(b['wall'], '{:.2f}')}x wall (search every {res['search_every']} frames)",
             f"- our wrapper / bare MediaPipe loop: **{spread(w['cpu'], '{:.3f}')}** CPU, "
             f"{spread(w['wall'], '{:.3f}')} wall (one hand); {spread(w2['cpu'], '{:.3f}')} CPU with two "
             f"asked for and searching on every frame",
             f"- a hand entering while another is tracked is found {e['mean_frames_late']:.1f} frames later on "
             f"average (at most {e['max_frames_late']}) than with MediaPipe's search on every frame "
             f"(entering frames over one search period: {e['frames_late']})"]
    return "\n".join(rows)


if __name__ == "__main__":
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")
    print(table(run()))
