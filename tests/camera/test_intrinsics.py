"""Intrinsics: construction, files (JSON, OpenCV YAML, ROS YAML), scaling, undistortion."""
from __future__ import annotations

import json
import math

import cv2
import numpy as np
import pytest
import torch

from handmocap.camera.intrinsics import Intrinsics, undistort_points
from handmocap.camera.pinhole import project
from handmocap.errors import FormatError, InputError


def test_from_fov():
    k = Intrinsics.from_fov(90.0, 640, 480)
    assert k.fx == pytest.approx(320.0) and k.fy == pytest.approx(320.0)
    assert (k.cx, k.cy) == (319.5, 239.5)
    assert k.fov_deg()[0] == pytest.approx(90.0)
    assert Intrinsics.from_fov(60.0, 480, 640, axis="max").fy == pytest.approx(320 / math.tan(math.radians(30)))
    with pytest.raises(InputError, match="field of view"):
        Intrinsics.from_fov(180.0, 640, 480)


def test_K_and_validation(device, dtype):
    k = Intrinsics(800, 810, 320.5, 240.25, 640, 480)
    K = k.K(dtype, device)
    assert K.dtype == dtype and K.device.type == device.type
    assert K.cpu().tolist() == [[800.0, 0.0, 320.5], [0.0, 810.0, 240.25], [0.0, 0.0, 1.0]]
    with pytest.raises(InputError, match="focal"):
        Intrinsics(-1, 1, 0, 0)
    with pytest.raises(InputError, match="finite"):
        Intrinsics(float("nan"), 1, 0, 0)
    with pytest.raises(InputError, match="distortion"):
        Intrinsics(1, 1, 0, 0, dist=(0.1, 0.2, 0.3))


def test_scaled_keeps_geometry():
    """Resizing the image by s maps pixel centres u -> (u + 0.5) s - 0.5; projections follow."""
    k = Intrinsics(800, 800, 319.5, 239.5, 640, 480)
    half = k.scaled(0.5)
    assert (half.width, half.height) == (320, 240)
    assert (half.cx, half.cy) == (159.5, 119.5)  # still the image centre
    pts = torch.tensor([[0.05, -0.03, 0.7]], dtype=torch.float64)
    a, b = project(pts, k.K()), project(pts, half.K())
    assert torch.allclose((a + 0.5) * 0.5 - 0.5, b)
    assert k.resized(1280, 960) == k.scaled(2.0)
    unknown = Intrinsics(800, 800, 319.5, 239.5)
    assert unknown.resized(640, 480).size == (640, 480)


def test_json_round_trip(tmp_path):
    k = Intrinsics(812.5, 809.0, 330.1, 241.7, 640, 480, dist=(-0.2, 0.05, 0.001, -0.002, 0.01))
    path = k.save(tmp_path / "cam.json", extra={"reprojection_error_px": 0.3})
    data = json.loads(path.read_text())
    assert data["reprojection_error_px"] == 0.3 and data["image_width"] == 640
    assert Intrinsics.from_file(path) == k


def test_opencv_yaml_round_trip(tmp_path):
    k = Intrinsics(812.5, 809.0, 330.1, 241.7, 1280, 720, dist=(-0.2, 0.05, 0.0, 0.0, 0.0))
    path = k.save(tmp_path / "cam.yaml")
    assert path.read_text().startswith("%YAML:1.0")
    # OpenCV itself reads it
    fs = cv2.FileStorage(str(path), cv2.FILE_STORAGE_READ)
    assert np.allclose(fs.getNode("camera_matrix").mat(), k.matrix())
    fs.release()
    assert Intrinsics.from_file(path) == k


def test_other_layouts(tmp_path):
    ros = tmp_path / "ros.yml"
    ros.write_text("image_width: 640\nimage_height: 480\ncamera_name: cam\ncamera_matrix:\n  rows: 3\n  cols: 3\n"
                   "  data: [500.0, 0.0, 320.0, 0.0, 501.0, 240.0, 0.0, 0.0, 1.0]\n"
                   "distortion_model: plumb_bob\ndistortion_coefficients:\n  rows: 1\n  cols: 5\n"
                   "  data: [0.1, -0.01, 0.0, 0.0, 0.0]\n")
    k = Intrinsics.from_file(ros)
    assert (k.fx, k.fy, k.cx, k.cy, k.size) == (500.0, 501.0, 320.0, 240.0, (640, 480))
    assert k.dist == (0.1, -0.01, 0.0, 0.0, 0.0)
    fs = cv2.FileStorage(str(tmp_path / "cv.json"), cv2.FILE_STORAGE_WRITE)
    fs.write("K", np.array([[700.0, 0, 300], [0, 700, 200], [0, 0, 1]]))
    fs.write("D", np.zeros((1, 5)))
    fs.release()
    k = Intrinsics.from_file(tmp_path / "cv.json")
    assert (k.fx, k.cx, k.cy, k.dist, k.size) == (700.0, 300.0, 200.0, None, None)
    flat = tmp_path / "flat.json"
    flat.write_text(json.dumps({"fx": 1, "fy": 2, "cx": 3, "cy": 4, "width": 8, "height": 6}))
    assert Intrinsics.from_file(flat) == Intrinsics(1, 2, 3, 4, 8, 6)


def test_bad_files(tmp_path):
    with pytest.raises(InputError, match="missing.json: cannot read"):
        Intrinsics.from_file(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(FormatError, match="bad.json: invalid JSON"):
        Intrinsics.from_file(bad)
    nok = tmp_path / "nok.yaml"
    nok.write_text("foo: 1\n")
    with pytest.raises(FormatError, match="nok.yaml: no camera matrix"):
        Intrinsics.from_file(nok)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({"camera_matrix": [[1, 2], [3, 4]]}))
    with pytest.raises(FormatError, match="wrong.json: camera matrix must have 9"):
        Intrinsics.from_file(wrong)
    with pytest.raises(InputError, match="unsupported calibration format"):
        Intrinsics.from_file(tmp_path / "cam.txt")


def test_undistort_points_inverts_opencv_distortion(dtype):
    k = Intrinsics(700, 700, 320, 240, 640, 480, dist=(-0.25, 0.08, 0.001, -0.0015, 0.0))
    g = np.random.default_rng(0)
    pts = np.concatenate([g.uniform(-0.4, 0.4, (30, 2)), np.ones((30, 1))], 1) * g.uniform(0.3, 1.5, (30, 1))
    distorted, _ = cv2.projectPoints(pts, np.zeros(3), np.zeros(3), k.matrix(), np.asarray(k.dist))
    ideal = project(torch.as_tensor(pts), k.K())
    out = undistort_points(torch.as_tensor(distorted[:, 0], dtype=dtype), k)
    assert out.dtype == dtype
    tol = 1e-4 if dtype == torch.float64 else 1e-3
    assert (out.double() - ideal).abs().max() < tol
    # distortion is real: the raw points are far off
    assert np.abs(distorted[:, 0] - ideal.numpy()).max() > 5
    np_out = undistort_points(distorted[:, 0], k)
    assert isinstance(np_out, np.ndarray) and np.abs(np_out - ideal.numpy()).max() < 1e-4
    assert undistort_points(distorted, Intrinsics(700, 700, 320, 240)) is distorted  # no distortion: unchanged
