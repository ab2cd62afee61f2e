"""Decoder speed: frames/s of every way we can decode a video, on the same file in one run.

Variants: OpenCV's VideoCapture ("cv2"), the ffmpeg rawvideo pipe ("ffmpeg"), and the
ffmpeg pipe with scaling done by ffmpeg to half size ("ffmpeg, scaled 1/2"), each also
through the read-ahead thread (`handmocap.video.prefetch`) the tracker uses. Repeats are
interleaved (A B C A B C ...) so that load from other processes hits every variant alike.
"""
from __future__ import annotations

import statistics
import time
from pathlib import Path


def _count(frames) -> int:
    n = 0
    for _ in frames:
        n += 1
    return n


def decode_speeds(video: Path, repeats: int = 3) -> dict[str, list[float]]:
    """{variant: [frames/s per repeat]}."""
    from handmocap.video import open_frames, prefetch, probe

    info = probe(video)
    half = (max(2, info.width // 4 * 2), max(2, info.height // 4 * 2))
    variants = {
        "cv2": lambda: open_frames(video, decoder="cv2", info=info),
        "ffmpeg": lambda: open_frames(video, decoder="ffmpeg", info=info),
        "cv2 + read-ahead thread": lambda: prefetch(open_frames(video, decoder="cv2", info=info)),
        "ffmpeg + read-ahead thread": lambda: prefetch(open_frames(video, decoder="ffmpeg", info=info)),
        "ffmpeg, scaled 1/2 by ffmpeg": lambda: open_frames(video, decoder="ffmpeg", info=info, size=half),
    }
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(repeats):
        for name, make in variants.items():
            t0 = time.perf_counter()
            n = _count(make())
            rates[name].append(n / (time.perf_counter() - t0))
    return rates


def decode_table(rows: dict[str, dict[str, list[float]]]) -> str:
    """Markdown: one row per variant, one column per video size."""
    sizes = list(rows)
    out = ["| decoder | " + " | ".join(f"{s} frames/s" for s in sizes) + " |",
           "|---|" + "---:|" * len(sizes)]
    for variant in rows[sizes[0]]:
        cells = []
        for s in sizes:
            v = rows[s][variant]
            cells.append(f"{statistics.median(v):.0f} [{min(v):.0f}, {max(v):.0f}]")
        out.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    from handmocap.video import probe

    res = {}
    for v in map(Path, sys.argv[1:] or ["examples/hand_wave.mp4"]):
        i = probe(v)
        res[f"{i.width}x{i.height}"] = decode_speeds(v, 5)
    print(decode_table(res))
