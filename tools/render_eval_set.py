"""Render the people evaluation set (stills and clips) with exact ground truth.

People, not floating hands: full anny bodies (random phenotypes, hand lengths 17-25 cm,
finger proportions, skin tones, shirts with sleeves), arms posed in front or to the side,
hands posed from `handmocap.hand.poses`, seen palmar / dorsal / side / egocentric /
over-the-shoulder through 40-90 degree lenses, hands 80-240 px and off-centre, composited on
photos (opencv-doc) or textured walls, with sensor noise and JPEG (stills) or H.264 (clips).

    python tools/render_eval_set.py stills --split test --count 300 --out datasets/handeval/test
    python tools/render_eval_set.py clips  --split test --out datasets/handeval/test
    python tools/render_eval_set.py merge  --out datasets/handeval/test

Stills are rendered in chunks (one subject per chunk) that are skipped when already on disk,
so an interrupted run resumes. Everything follows from the split's seed. Needs bpy and anny
(`pip install .[build-asset]`). The layout of the files is in `training/render/evalset.py`.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from training.render import evalset  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("stage", choices=["stills", "clips", "merge", "occlusion"])
    ap.add_argument("--split", choices=sorted(evalset.SPLIT_SEEDS), default="test")
    ap.add_argument("--out", type=Path, required=True, help="output folder of the split")
    ap.add_argument("--count", type=int, default=300, help="stills to have in total")
    ap.add_argument("--chunk", type=int, default=10, help="stills per chunk (one subject)")
    ap.add_argument("--samples", type=int, default=8, help="Cycles samples per pixel (+ OpenImageDenoise)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--clip", action="append", default=None, choices=sorted(evalset.CLIPS),
                    help="clips to render (default: all)")
    ap.add_argument("--frames", type=int, default=None, help="frames per clip (default: the clip's)")
    ap.add_argument("--variant", type=int, default=0,
                    help="clips: another subject, motion and look of each clip (files NAME_vN; 0: NAME)")
    a = ap.parse_args(argv)
    if a.stage == "stills":
        for c in range((a.count + a.chunk - 1) // a.chunk):
            n = min(a.chunk, a.count - c * a.chunk)
            path = evalset.chunk_path(a.out, c)
            if path.exists():
                continue
            t0 = time.time()
            evalset.render_still_chunk(a.split, c, n, a.out, a.samples, a.threads)
            print(f"chunk {c}: {n} stills in {time.time() - t0:.0f} s", flush=True)
        evalset.merge_stills(a.out)
    elif a.stage == "clips":
        for name in a.clip or sorted(evalset.CLIPS):
            stem = evalset.clip_stem(name, a.variant)
            if (a.out / "clips" / f"{stem}.gt.npz").exists():
                continue
            t0 = time.time()
            evalset.render_clip(a.split, name, a.out, a.samples, a.threads, frames=a.frames, variant=a.variant)
            print(f"clip {stem} in {time.time() - t0:.0f} s", flush=True)
    elif a.stage == "occlusion":  # clips rendered before their GT had hand{h}_occluded
        for name in a.clip or sorted(evalset.CLIPS):
            if (a.out / "clips" / f"{name}.gt.npz").exists():
                evalset.annotate_clip_occlusion(a.split, name, a.out)
    else:
        evalset.merge_stills(a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
