"""Fixtures for the detector tests: the real photo (see handphoto.py) and a detector."""
from __future__ import annotations

import pytest
from handphoto import RIGHT04


@pytest.fixture(scope="session")
def right04():
    if not RIGHT04.is_file():
        pytest.fail(f"{RIGHT04} is missing: apt-get install opencv-doc", pytrace=False)
    from handmocap.video import read_image

    return read_image(RIGHT04)  # (480, 640, 3) uint8 RGB (the JPEG is grey)


@pytest.fixture(scope="module")
def image_detector():
    from handmocap.detect import MediaPipeHandDetector

    with MediaPipeHandDetector(mode="image") as det:
        yield det
