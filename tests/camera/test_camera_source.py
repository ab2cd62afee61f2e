"""Per-file camera: EXIF focal lengths read by Pillow from real JPEGs, sidecar names, and the
order given > sidecar > EXIF > assumed. (End to end with real MediaPipe: tests/track/test_stills.py.)"""
import math

import numpy as np
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from handmocap.camera.exif import FULL_FRAME_DIAGONAL_MM, exif_intrinsics, read_exif_focal
from handmocap.camera.intrinsics import Intrinsics
from handmocap.camera.source import resolve_camera, sidecar_calibration
from handmocap.errors import FormatError

W, H = 400, 300


def _jpeg(path, size=(W, H), **ifd):
    exif = Image.Exif()
    sub = exif.get_ifd(0x8769)
    for tag, value in ifd.items():
        sub[int(tag, 16)] = IFDRational(value) if isinstance(value, float) else value
    Image.fromarray(np.zeros((size[1], size[0], 3), np.uint8)).save(path, exif=exif)
    return path


def test_35mm_equivalent_uses_the_diagonal(tmp_path):
    path = _jpeg(tmp_path / "p.jpg", **{"0xA405": 26})
    K, detail = exif_intrinsics(path, W, H)
    f = 26 * math.hypot(W, H) / FULL_FRAME_DIAGONAL_MM
    assert (K.fx, K.fy, K.cx, K.cy) == pytest.approx((f, f, (W - 1) / 2, (H - 1) / 2))
    assert detail["FocalLengthIn35mmFilm"] == 26


def test_focal_plane_resolution_scales_to_a_resized_photo(tmp_path):
    # sensor 5.6 mm wide, 4000 px across: 714.3 px/mm (written per cm, unit 3); photo resized to 400
    tags = {"0x920A": 4.2, "0xA20E": 4000 / 0.56, "0xA20F": 4000 / 0.56, "0xA210": 3, "0xA002": 4000, "0xA003": 3000}
    path = _jpeg(tmp_path / "p.jpg", **tags)
    K, _ = exif_intrinsics(path, W, H)
    assert K.fx == pytest.approx(4.2 * 4000 / 5.6 * (W / 4000), rel=1e-4)
    # the same photo shown upright in portrait (EXIF orientation 6): the same focal length in pixels
    K_rot, _ = exif_intrinsics(path, H, W)
    assert K_rot.fx == pytest.approx(K.fx, rel=1e-9) and K_rot.cx == (H - 1) / 2


def test_no_usable_tags_gives_nothing(tmp_path):
    assert read_exif_focal(_jpeg(tmp_path / "none.jpg")) is None
    assert read_exif_focal(_jpeg(tmp_path / "zero.jpg", **{"0xA405": 0})) is None
    # FocalLength without a sensor size cannot give pixels
    assert exif_intrinsics(_jpeg(tmp_path / "mm.jpg", **{"0x920A": 4.2}), W, H) is None
    (tmp_path / "junk.jpg").write_bytes(b"not a jpeg")
    assert read_exif_focal(tmp_path / "junk.jpg") is None


def test_order_of_sources(tmp_path):
    photo = _jpeg(tmp_path / "p.jpg", **{"0xA405": 26})
    assert resolve_camera(None, W, H, photo, is_photo=True).source == "exif"
    assert resolve_camera(None, W, H, photo, is_photo=False).source == "assumed"  # video frames: no EXIF
    assert resolve_camera(None, W, H, photo, per_file=False, is_photo=True).source == "assumed"
    side = Intrinsics(fx=321.0, fy=322.0, cx=200.0, cy=150.0, width=W * 2, height=H * 2)
    side.save(tmp_path / "p.calib.json")
    cam = resolve_camera(None, W, H, photo, is_photo=True)
    assert cam.source == "sidecar" and cam.detail["file"].endswith("p.calib.json")
    np.testing.assert_allclose(cam.intrinsics.matrix(), side.resized(W, H).matrix())  # scaled to the photo
    assert resolve_camera(60.0, W, H, photo, is_photo=True).source == "fov"
    assert resolve_camera(side, W, H, photo, is_photo=True).source == "given"
    assert resolve_camera(tmp_path / "p.calib.json", W, H, photo).source == "calibration"


def test_sidecar_names_and_a_broken_sidecar(tmp_path):
    (tmp_path / "frames").mkdir()
    Intrinsics(fx=300.0, fy=300.0, cx=10.0, cy=10.0).save(tmp_path / "frames.calib.yaml")
    assert sidecar_calibration(tmp_path / "frames") == tmp_path / "frames.calib.yaml"
    assert sidecar_calibration(tmp_path / "clip.mp4") is None
    (tmp_path / "clip.calib.json").write_text("{not json")
    with pytest.raises(FormatError, match="clip.calib.json"):
        resolve_camera(None, W, H, tmp_path / "clip.mp4")
