"""Photos per second of the stills path on a folder of photos, every figure from one run.

    python -m bench.stills FOLDER [--exports glb,obj,preview] [--repeats 3]

Prints, for the images directly in FOLDER and its sub-folders (each taken as a photo,
as `handmocap track FOLDER --stills` would):
- the detector alone (read the image + MediaPipe in IMAGE mode), photos/s;
- the stills path without exports (`track_still`: read, camera, detection, learned model,
  DGP), photos/s and its ratio to the detector alone;
- the stills path with exports and the motion file (`process_input`, as the CLI runs it),
  photos/s and its ratio to the detector alone.
Unreadable files count as photos (they fail fast, as in a real batch). Run it on the
stills of the accuracy evaluation set once it is rendered (issue 10).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def _photos(folder: Path) -> list[Path]:
    from handmocap.video import list_inputs

    return [p for p in list_inputs([folder], image_folders="stills") if p.is_file()]


def _rate(n: int, seconds: list[float]) -> tuple[float, float, float]:
    """(median, min, max) photos/s over repeats."""
    rates = [n / s for s in seconds]
    return statistics.median(rates), min(rates), max(rates)


def run(folder: Path, exports: list[str], repeats: int = 1) -> dict:
    """Seconds per pass for each variant; returns the figures printed by `main`."""
    from handmocap.errors import HandmocapError
    from handmocap.track.pipeline import TrackOptions, process_input
    from handmocap.track.stills import image_detector, track_still
    from handmocap.video import read_image
    from handmocap.video.decode import Frame

    photos = _photos(folder)
    if not photos:
        raise SystemExit(f"{folder}: no images found")
    detector = image_detector()
    options = TrackOptions()
    for p in photos[:2]:  # warm-up: MediaPipe graph, model weights, hand model
        try:
            track_still(p, options)
        except HandmocapError:
            pass
    hands, failed = 0, 0
    times = {"detector": [], "track": [], "exports": []}
    for r in range(repeats):
        t0 = time.perf_counter()
        for p in photos:
            try:
                detector.detect(Frame(0, 0.0, read_image(p)))
            except HandmocapError:
                pass
        times["detector"].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        for p in photos:
            try:
                m = track_still(p, options)
                hands += len(m.tracks) if r == 0 else 0
            except HandmocapError:
                failed += 1 if r == 0 else 0
        times["track"].append(time.perf_counter() - t0)
        with tempfile.TemporaryDirectory(prefix="bench-stills-") as tmp:
            t0 = time.perf_counter()
            for p in photos:
                process_input(p, Path(tmp), options, exports, overwrite=True, root=folder)
            times["exports"].append(time.perf_counter() - t0)
    n = len(photos)
    ratios = {k: statistics.median(d / s for d, s in zip(times["detector"], times[k])) for k in ("track", "exports")}
    return {"photos": n, "failed": failed, "hands": hands, "ratios": ratios,
            **{k: _rate(n, v) for k, v in times.items()}}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", type=Path)
    ap.add_argument("--exports", default="glb,obj,preview", help="comma-separated export formats")
    ap.add_argument("--repeats", type=int, default=1)
    args = ap.parse_args(argv)
    exports = [e for e in args.exports.split(",") if e]
    r = run(args.folder, exports, args.repeats)
    det = r["detector"][0]
    print(f"stills on {args.folder}: {r['photos']} photos ({r['failed']} unreadable), {r['hands']} hands found; "
          f"median [min, max] of {args.repeats} run(s)")
    print(f"  detector alone (read + MediaPipe IMAGE mode): {det:.2f} [{r['detector'][1]:.2f}, {r['detector'][2]:.2f}] photos/s")
    for key, label in (("track", "stills path, no exports"), ("exports", f"stills path + motion file + {','.join(exports)}")):
        v = r[key]
        print(f"  {label}: {v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}] photos/s "
              f"({r['ratios'][key]:.2f}x the detector alone, median of the runs' ratios)")


if __name__ == "__main__":
    main()
