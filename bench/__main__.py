"""`python -m bench [--quick]`: speed, memory and accuracy in one run; writes
out/bench/REPORT.md, out/bench/figures.json (the figures, for scripts) and PNG plots (3D PCK
curves, per-stage time bars).

Full mode (~15 min on 2 idle cores) repeats the speed runs 3 times on clips looped to
10-12 s and grows the memory video to 10 minutes; --quick (~3 min) runs everything once on
the short clips as they are.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path("out/bench")


def _machine() -> str:
    import cv2
    import mediapipe

    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return (f"- machine: {cpu}, {torch.get_num_threads()} torch threads, GPU: {gpu}\n"
            f"- python {platform.python_version()}, torch {torch.__version__}, numpy {np.__version__}, "
            f"mediapipe {mediapipe.__version__}, opencv {cv2.__version__}")


def _spread(values, fmt="{:.1f}") -> str:
    return f"{fmt.format(statistics.median(values))} [{fmt.format(min(values))}, {fmt.format(max(values))}]"


def _scaled(video: Path, height: int, out: Path) -> Path:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(video), "-vf", f"scale=-2:{height}", "-c:v", "libx264",
                    "-crf", "18", "-pix_fmt", "yuv420p", str(out)], check=True)
    return out


SPEED_CLIPS = [  # (visible hands, clip, calibration, times looped in full mode: 10-12 s)
    (1, Path("examples/hand_wave.mp4"), Path("examples/hand_wave.calib.json"), 3),
    (2, Path("tests/data/videos/two_hands.mp4"), Path("tests/data/videos/two_hands.calib.json"), 5),
]


def speed_section(repeats: int, quick: bool) -> tuple[str, dict, list[dict]]:
    """Whole pipeline against the detector alone (bench/pipeline.py) per clip and size, and
    where the time goes (bench/stages.py, stages run one after another)."""
    from .pipeline import figures, graph_build_seconds, looped, measure, table
    from .stages import time_stages

    OUT.mkdir(parents=True, exist_ok=True)
    lines, last, entries, build_s = [], {}, [], float("nan")
    for hands, video, calib, loops in SPEED_CLIPS:
        if not video.exists():
            continue
        for h in ([None] if quick else [None, 1080]):
            src = video if h is None else _scaled(video, h, OUT / f"{video.stem}_{h}p.mp4")
            clip = src if quick else looped(src, loops, OUT / f"{src.stem}_x{loops}.mp4")
            entries.append(figures(measure(clip, calib, hands, repeats)))
            entries[-1]["graph_build_s"] = build_s = graph_build_seconds()
            r = time_stages(src, calib, "model", out_dir=OUT / "exports")
            T, (W, H) = r["frames"], r["size"]
            total = sum(r["stages"].values())
            lines.append(f"\n#### {hands} hand{'s' if hands > 1 else ''}, {W}x{H}, {T} frames: stages one after "
                         f"another (one run)\n")
            lines.append("| stage | frames/s | share of total |\n|---|---:|---:|")
            lines += [f"| {n} | {T / t:.1f} | {100 * t / total:.1f}% |" for n, t in r["stages"].items()]
            last = r
    head = ["### Whole pipeline against the detector alone", "",
            "Wall clock, median of the repeats (ratios per repeat, then the median; [min, max] shown). "
            "Detector alone: `MediaPipeHandDetector` as the pipeline configures it (--hands both) on "
            "frames decoded beforehand; bare MediaPipe: a plain Tasks loop on the same frames and model "
            "files, asked for the number of visible hands. Pipeline: `process_input` with the default "
            "exports (motion file + GLB + preview), its stages after detection streamed a bounded lag "
            "behind the detector (`handmocap.track.stream`)." + ("" if quick else " Clips looped to 10-12 s.")
            + f" MediaPipe builds a landmarker graph in {build_s:.2f} s; a process builds them once and keeps "
              "them for its next inputs, so these are a batch's inputs after its first (the first input of a "
              "process waits about two builds more).",
            "", table(entries), "", "### Where the time goes",
            "", "Each stage alone, one after another (the offline functions; the pipeline overlaps them)."]
    return "\n".join(head + lines), last, entries


def _estimator_comparison(video: Path, calib: Path, repeats: int) -> str:
    """Learned model (default) against fitting on the same clip in the same run."""
    from .stages import time_stages

    rows = ["\n### Estimators on the same clip (tracking without exports, frames/s)\n",
            "| estimator | estimate stage frames/s | tracking frames/s |", "|---|---:|---:|"]
    fps = {}
    for est in ("model", "fitting"):
        runs = [time_stages(video, calib, est, exports=()) for _ in range(repeats)]
        T = runs[0]["frames"]
        fps[est] = [T / sum(r["stages"].values()) for r in runs]
        rows.append(f"| {est} | {_spread([T / r['stages'][est] for r in runs])} | {_spread(fps[est])} |")
    ratio = [m / f for m, f in zip(fps["model"], fps["fitting"])]
    rows.append(f"\nmodel / fitting tracking speed: **{_spread(ratio, '{:.2f}')}x**")
    return "\n".join(rows)


def throughput_section(quick: bool) -> str:
    from .hand_layer import throughput
    from handmocap.hand import HandModel

    batches = [1, 64, 1024] if quick else [1, 16, 256, 1024, 4096]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    rows = ["| component | device | dtype | batch | hands/s (median [min, max]) |", "|---|---|---|---:|---:|"]
    for dev in devices:
        for dtype in (torch.float32,) + ((torch.bfloat16,) if dev.type == "cuda" else ()):
            layer = HandModel(dtype=dtype).to(dev)
            for b in batches:
                rows.append(f"| hand layer | {dev.type} | {str(dtype)[6:]} | {b} | "
                            f"{_spread(throughput(layer, b, dev, dtype, 3), '{:,.0f}')} |")
            model_rows = _model_throughput(dev, dtype, batches)
            rows += model_rows
    return "\n".join(rows)


def _model_throughput(dev, dtype, batches) -> list[str]:
    """The learned estimator end to end (rectify, network, hand model, DGP) on B frames."""
    if dtype != torch.float32:
        return []
    from handmocap.hand import HandModel
    from handmocap.hand.poses import sample_hand_pose
    from handmocap.nn.estimator import estimate_track

    hand = HandModel()
    K = np.array([[500.0, 0, 320], [0, 500, 240], [0, 0, 1]])
    rows = []
    for b in batches:
        with torch.no_grad():
            kp = hand(hand_pose=sample_hand_pose(b, seed=0).float(),
                      transl=torch.tensor([[0.0, 0.0, 0.5]]).expand(b, 3)).keypoints.numpy()
        px = kp @ K.T
        px = px[..., :2] / px[..., 2:]
        rel = kp - kp[:, 9:10]
        rates = []
        for i in range(3):
            t0 = time.perf_counter()
            estimate_track(px, rel, np.ones((b, 21)), K, "right", hand, device=dev.type, batch_size=min(b, 1024))
            if i:
                rates.append(b / (time.perf_counter() - t0))
        rows.append(f"| keypoint model (estimate_track) | {dev.type} | float32 | {b} | {_spread(rates, '{:,.0f}')} |")
    return rows


def pck_plot(results: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    th = np.linspace(0, 0.05, 101)
    fig, ax = plt.subplots(figsize=(6, 4.2), dpi=110)
    for name, per_clip in results.items():
        e = np.concatenate([c["cs_errors"] for c in per_clip])
        ax.plot(th * 1000, [(e <= t).mean() for t in th], label=f"{name}")
    ax.set_xlabel("error threshold (mm)")
    ax.set_ylabel("3D PCK (camera space)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def stage_plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    st = result["stages"]
    fig, ax = plt.subplots(figsize=(6, 3.2), dpi=110)
    ax.barh(list(st)[::-1], [1000 * v / result["frames"] for v in list(st.values())[::-1]])
    ax.set_xlabel("ms per frame")
    ax.set_title(f"per-stage time, {result['size'][0]}x{result['size'][1]}, {result['hands']} hand(s)")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="one repeat, short inputs (~2 min)")
    ap.add_argument("--ray", action="store_true", help="only the Ray scaling benchmark (bench/ray_scaling.py)")
    args = ap.parse_args(argv)
    if args.ray:
        from . import ray_scaling

        return ray_scaling.main(["--quick"] if args.quick else [])
    import os

    os.environ.setdefault("GLOG_minloglevel", "2")
    from . import accuracy, memory

    t0 = time.perf_counter()
    OUT.mkdir(parents=True, exist_ok=True)
    repeats = 1 if args.quick else 3
    speed, last, entries = speed_section(repeats, args.quick)
    stage_plot(last, OUT / "stages.png")
    estimators = _estimator_comparison(Path("examples/hand_wave.mp4"), Path("examples/hand_wave.calib.json"), repeats)
    from . import decode, hands, jobs

    hand_figures = hands.run(repeats=repeats, loops=1 if args.quick else 2)
    sizes = [Path("examples/hand_wave.mp4")] + ([] if args.quick else [OUT / "hand_wave_1080p.mp4"])
    decoders = {}
    for v in sizes:
        from handmocap.video import probe

        i = probe(v)
        decoders[f"{i.width}x{i.height}"] = decode.decode_speeds(v, repeats)
    copies = 2 if args.quick else 4
    folder = jobs.folder_throughput(Path("examples/hand_wave.mp4"), copies, calib=Path("examples/hand_wave.calib.json"))
    acc = accuracy.run(quick=args.quick)
    exact = accuracy.exact_keypoints(quick=args.quick)
    pck_plot(acc, OUT / "pck.png")
    mem = memory.peak_memory((5, 20) if args.quick else (10, 120, 600))
    from . import eval_set

    people = eval_set.report_section(quick=args.quick, json_path=OUT / "eval_set.json")
    (OUT / "figures.json").write_text(json.dumps({
        "mode": "quick" if args.quick else "full", "speed": entries, "hands": hand_figures,
        "decode_fps": decoders, "folder_fps_by_jobs": folder, "memory": mem, "exact_keypoints": exact},
        indent=1) + "\n")
    report = "\n".join([
        "# handmocap benchmark report", "", _machine(), f"- mode: {'quick' if args.quick else 'full'}",
        f"- load average at the end: {' '.join(f'{x:.1f}' for x in __import__('os').getloadavg())} "
        "(other processes share the machine: compare ratios, measured in one run)", "",
        "## Speed (CPU)", "", speed, "", "![per-stage time](stages.png)", "", estimators, "",
        "### Detector: wrapper cost, and searching for hands every few frames", "", hands.table(hand_figures), "",
        "### Decoders", "", decode.decode_table(decoders), "",
        "### Folders: -j 1 against -j 2", "", jobs.jobs_table(folder, copies, "examples/hand_wave.mp4"), "",
        "## Throughput (hand layer and keypoint model)", throughput_section(args.quick), "",
        "## Accuracy on rendered clips with exact ground truth", "",
        "Camera-space mean keypoint error (CS-MJE), Procrustes-aligned error (PA-MPJPE), area under "
        "the 3D PCK curve over 0-50 mm, 2D error of the projected keypoints, and jitter as mean "
        "acceleration error; detection once per clip, shared by every variant.", "",
        accuracy.summary_table(acc), "", "![3D PCK](pck.png)", "",
        "### Exact keypoints: how much of good input the estimator uses", "", accuracy.exact_table(exact), "",
        "## Accuracy on the people evaluation set (stills per view, clips)", people, "",
        "## Peak memory as the video grows", memory.memory_table(mem), "",
        f"(report written in {time.perf_counter() - t0:.0f} s)"])
    (OUT / "REPORT.md").write_text(report + "\n")
    print(report)


if __name__ == "__main__":
    main()
