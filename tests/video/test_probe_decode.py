"""Probing and streamed decoding with the real ffmpeg and OpenCV."""
from __future__ import annotations

import numpy as np
import pytest
from videogen import asym_image

from handmocap.errors import HandmocapError
from handmocap.video import Frame, VideoInfo, open_frames, probe


def test_probe_constant_rate_video(media):
    info = probe(media["cfr"])
    assert isinstance(info, VideoInfo)
    assert (info.kind, info.width, info.height) == ("video", 320, 240)
    assert info.fps == pytest.approx(25.0)
    assert info.num_frames == 64
    assert info.duration_s == pytest.approx(64 / 25, abs=0.05)
    assert info.rotation_deg == 0 and not info.variable_frame_rate
    assert info.codec == "h264"


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_decode_all_frames_in_order(media, decoder):
    frames = list(open_frames(media["cfr"], decoder=decoder))
    assert len(frames) == 64
    assert all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(64))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(64) / 25, atol=1e-3)
    for f in frames[:3]:
        assert f.image.shape == (240, 320, 3) and f.image.dtype == np.uint8
    # testsrc changes every frame: no frame is repeated or dropped for another
    diffs = [np.abs(a.image.astype(int) - b.image).mean() for a, b in zip(frames, frames[1:])]
    assert min(diffs) > 0.05


def test_cv2_fallback_equals_ffmpeg(media):
    a = list(open_frames(media["cfr"], decoder="ffmpeg"))
    b = list(open_frames(media["cfr"], decoder="cv2"))
    assert len(a) == len(b)
    for fa, fb in zip(a[::9], b[::9]):
        assert fa.index == fb.index and fa.timestamp_s == pytest.approx(fb.timestamp_s, abs=1e-3)
        assert np.abs(fa.image.astype(int) - fb.image).mean() < 3.0


def test_rgb_channel_order(media):
    """The red block of the source stays red: frames are RGB, not BGR."""
    img = next(iter(open_frames(media["asym"]))).image
    r, g, b = img[5:20, 5:30].reshape(-1, 3).mean(0)
    assert r > 200 and g < 60 and b < 60


@pytest.mark.parametrize("rot", [90, 180, 270])
def test_rotation_metadata_gives_upright_frames(media, rot):
    src = asym_image()
    info = probe(media[f"rot{rot}"])
    assert info.rotation_deg in (90, 180, 270)
    if info.rotation_deg in (90, 270):
        assert (info.width, info.height) == (src.shape[0], src.shape[1])  # swapped
    else:
        assert (info.width, info.height) == (src.shape[1], src.shape[0])
    # rotation_deg is clockwise: np.rot90 turns counter-clockwise
    expected = np.rot90(src, k=-info.rotation_deg // 90)
    a = next(iter(open_frames(media[f"rot{rot}"], decoder="ffmpeg"))).image  # ffmpeg's own autorotate
    b = next(iter(open_frames(media[f"rot{rot}"], decoder="cv2"))).image     # our rotation of cv2 frames
    assert a.shape == b.shape == expected.shape == (info.height, info.width, 3)
    assert np.abs(a.astype(int) - expected).mean() < 6
    assert np.abs(b.astype(int) - expected).mean() < 6


def test_variable_frame_rate_timestamps(media):
    info = probe(media["vfr"])
    assert info.variable_frame_rate
    assert info.num_frames == 40
    assert info.fps == pytest.approx(20.0, rel=0.06)  # the average rate: 40 frames in 2 s
    expected = np.concatenate([np.arange(10) / 10, 1 + np.arange(30) / 30])
    for decoder in ("ffmpeg", "cv2"):
        ts = [f.timestamp_s for f in open_frames(media["vfr"], decoder=decoder)]
        np.testing.assert_allclose(ts, expected, atol=2e-3, err_msg=decoder)
    assert not probe(media["cfr"]).variable_frame_rate


@pytest.mark.parametrize("decoder", ["ffmpeg", "cv2"])
def test_stride_window_and_max_frames(media, decoder):
    vfr = media["vfr"]
    got = [(f.index, round(f.timestamp_s, 3)) for f in open_frames(vfr, decoder=decoder, stride=3, max_frames=5)]
    assert got == [(0, 0.0), (3, 0.3), (6, 0.6), (9, 0.9), (12, 1.067)]
    got = [(f.index, round(f.timestamp_s, 3)) for f in open_frames(vfr, decoder=decoder, start_s=0.5, end_s=1.1,
                                                                    stride=2)]
    assert got == [(5, 0.5), (7, 0.7), (9, 0.9), (11, 1.033)]
    got = [f.index for f in open_frames(vfr, decoder=decoder, start_s=1.0, max_frames=3)]
    assert got == [10, 11, 12]
    assert list(open_frames(vfr, decoder=decoder, start_s=10.0)) == []
    assert list(open_frames(vfr, decoder=decoder, max_frames=0)) == []


@pytest.mark.parametrize("kwargs", [dict(stride=0), dict(stride=1.5), dict(max_frames=-1), dict(start_s=-1.0),
                                    dict(start_s=2.0, end_s=1.0), dict(decoder="gstreamer")])
def test_bad_arguments(media, kwargs):
    with pytest.raises(HandmocapError):
        open_frames(media["cfr"], **kwargs)


def test_cv2_probe_and_decode_without_ffmpeg_on_path(media, monkeypatch, tmp_path):
    """With no ffmpeg/ffprobe executables, probe and decoding fall back to OpenCV."""
    ref, ref_rot = probe(media["cfr"]), probe(media["rot90"])
    ref_frames = list(open_frames(media["cfr"], max_frames=5))
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no executables at all
    info = probe(media["cfr"])
    assert (info.width, info.height, info.num_frames) == (ref.width, ref.height, ref.num_frames)
    assert info.fps == pytest.approx(ref.fps)
    rot = probe(media["rot90"])
    assert (rot.rotation_deg, rot.width, rot.height) == (ref_rot.rotation_deg, ref_rot.width, ref_rot.height)
    frames = list(open_frames(media["cfr"], max_frames=5))
    assert [f.index for f in frames] == [0, 1, 2, 3, 4]
    for a, b in zip(frames, ref_frames):
        assert np.abs(a.image.astype(int) - b.image).mean() < 3.0
    with pytest.raises(HandmocapError, match="ffmpeg"):
        open_frames(media["cfr"], decoder="ffmpeg")


def test_matroska_without_stored_frame_count(media, tmp_path):
    """mkv stores no frame count: probe counts packets, decoding agrees."""
    from videogen import ffmpeg

    mkv = tmp_path / "copy.mkv"
    ffmpeg("-i", str(media["cfr"]), "-c", "copy", str(mkv))
    info = probe(mkv)
    assert info.num_frames == 64 and info.fps == pytest.approx(25.0)
    assert sum(1 for _ in open_frames(mkv)) == 64


def test_audio_only_file_is_not_a_video(tmp_path):
    from videogen import ffmpeg

    from handmocap.errors import InputError

    wav = tmp_path / "voice.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=0.5", "-c:a", "aac", str(wav))
    with pytest.raises(InputError, match="voice.m4a: no video stream"):
        probe(wav)
