"""Peak memory of `handmocap track` as the video grows (should stay flat: frames are
streamed, only per-frame detections are kept). Each length runs in its own process."""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = """
import json, sys
from handmocap.track.pipeline import TrackOptions, track_input
m = track_input(sys.argv[1], TrackOptions(intrinsics=sys.argv[2] if sys.argv[2] != '-' else None))
# VmHWM, not ru_maxrss: ru_maxrss survives exec, so it would report the parent's size when
# the parent (python -m bench) is bigger than this process
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"frames": m.num_frames, "peak_mb": hwm / 1024}))
"""


def looped_video(source: Path, seconds: float, out: Path) -> Path:
    """`source` repeated to `seconds` long (stream copy: no re-encode)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-stream_loop", "-1", "-i", str(source), "-t", str(seconds),
                    "-c", "copy", str(out)], check=True)
    return out


def peak_memory(lengths_s=(10, 60), source=Path("examples/hand_wave.mp4"),
                calib=Path("examples/hand_wave.calib.json")) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for sec in lengths_s:
            video = looped_video(source, sec, Path(tmp) / f"loop_{sec}s.mp4")
            out = subprocess.run([sys.executable, "-c", _CHILD, str(video), str(calib)], capture_output=True,
                                 text=True, check=True, env={**__import__("os").environ, "GLOG_minloglevel": "2"})
            rows.append({"seconds": sec, **json.loads(out.stdout.strip().splitlines()[-1])})
    return rows


def memory_table(rows) -> str:
    lines = ["| video length | frames | peak RSS (MB) |", "|---:|---:|---:|"]
    lines += [f"| {r['seconds']} s | {r['frames']} | {r['peak_mb']:.0f} |" for r in rows]
    growth = rows[-1]["peak_mb"] / rows[0]["peak_mb"]
    lines.append(f"\npeak memory, longest / shortest video: **{growth:.2f}x** for "
                 f"{rows[-1]['frames'] / rows[0]['frames']:.0f}x the frames")
    return "\n".join(lines)


if __name__ == "__main__":
    print(memory_table(peak_memory()))
