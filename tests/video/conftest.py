"""Videos generated with the real ffmpeg (lavfi test sources) for the video tests."""
from __future__ import annotations

import shutil
from pathlib import Path

import cv2
import pytest
from videogen import asym_image, ffmpeg

if shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None:
    pytest.fail("the video tests need ffmpeg and ffprobe: apt-get install ffmpeg", pytrace=False)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Every generated input, made once per session."""
    d = tmp_path_factory.mktemp("media")
    out = {}
    # constant 25 fps, 64 frames, 320x240, H.264 (moov at the end, as ffmpeg writes by default)
    out["cfr"] = d / "cfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v", "64", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(out["cfr"]))
    # variable rate: 1 s at 10 fps then 1 s at 30 fps, timestamps passed through
    out["vfr"] = d / "vfr.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=1",
           "-f", "lavfi", "-i", "testsrc=size=320x240:rate=30:duration=1",
           "-filter_complex", "[0][1]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out["vfr"]))
    # an asymmetric still, then copies of its video with rotation metadata
    png = d / "asym.png"
    cv2.imwrite(str(png), asym_image()[:, :, ::-1])
    out["asym_png"] = png
    out["asym"] = d / "asym.mp4"
    ffmpeg("-loop", "1", "-i", str(png), "-frames:v", "6", "-r", "10", "-c:v", "libx264", "-crf", "4",
           "-pix_fmt", "yuv444p", str(out["asym"]))
    for rot in (90, 180, 270):
        out[f"rot{rot}"] = d / f"rot{rot}.mp4"
        ffmpeg("-i", str(out["asym"]), "-c", "copy", "-metadata:s:v:0", f"rotate={rot}", str(out[f"rot{rot}"]))
    # noisy content so that the file is large enough to cut in the middle of frame data
    out["noise"] = d / "noise.mp4"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-vf", "noise=alls=40:allf=t",
           "-frames:v", "50", "-c:v", "libx264", "-pix_fmt", "yuv420p", str(out["noise"]))
    out["faststart"] = d / "faststart.mp4"
    ffmpeg("-i", str(out["noise"]), "-c", "copy", "-movflags", "+faststart", str(out["faststart"]))
    data = out["noise"].read_bytes()
    out["truncated"] = d / "truncated.mp4"  # cut in half: the index (moov) at the end is lost
    out["truncated"].write_bytes(data[: len(data) // 2])
    data = out["faststart"].read_bytes()
    out["truncated_fs"] = d / "truncated_faststart.mp4"  # index kept, frame data cut
    out["truncated_fs"].write_bytes(data[: len(data) // 2])
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["text"] = d / "notes.mp4"
    out["text"].write_text("these are my notes, not a video\n" * 20)
    return out
