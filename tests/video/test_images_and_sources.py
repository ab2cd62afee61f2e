"""Image folders, single images, and how folders expand into inputs."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from handmocap.errors import InputError
from handmocap.video import IMAGE_FPS, list_inputs, open_frames, probe


def _write(path, rgb):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[:, :, ::-1]))
    return path


@pytest.fixture
def sequence(tmp_path):
    """frame1.png .. frame12.png, each filled with its own number (natural order matters)."""
    folder = tmp_path / "seq"
    rng = np.random.default_rng(0)
    images = {}
    for i in range(1, 13):
        img = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        img[0, 0] = (i, 255 - i, 7)
        images[i] = _write(folder / f"frame{i}.png", img)
    return folder, images


def test_image_folder_is_one_sequence(sequence):
    folder, images = sequence
    info = probe(folder)
    assert (info.kind, info.width, info.height, info.num_frames) == ("images", 64, 48, 12)
    assert info.fps == IMAGE_FPS
    frames = list(open_frames(folder))
    assert [f.index for f in frames] == list(range(12))
    np.testing.assert_allclose([f.timestamp_s for f in frames], np.arange(12) / IMAGE_FPS)
    for k, f in enumerate(frames):  # PNG is lossless: exact pixels, natural order, RGB
        expected = cv2.imread(str(images[k + 1]))[:, :, ::-1]
        np.testing.assert_array_equal(f.image, expected)
        assert tuple(f.image[0, 0]) == (k + 1, 254 - k, 7)
    assert [f.index for f in open_frames(folder, stride=5)] == [0, 5, 10]
    assert [f.index for f in open_frames(folder, max_frames=2, start_s=3 / IMAGE_FPS)] == [3, 4]


def test_single_image_and_grey_and_exif(tmp_path):
    grey = np.tile(np.arange(80, dtype=np.uint8), (60, 1))
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), grey)
    info = probe(path)
    assert (info.kind, info.width, info.height, info.num_frames) == ("image", 80, 60, 1)
    (frame,) = list(open_frames(path))
    assert frame.index == 0 and frame.timestamp_s == 0.0
    assert frame.image.shape == (60, 80, 3)
    np.testing.assert_array_equal(frame.image[..., 1], grey)

    # a JPEG stored landscape with EXIF orientation 6 ("rotate 90 clockwise") comes out portrait
    from PIL import Image

    img = np.zeros((60, 80, 3), np.uint8)
    img[:20, :20] = 255  # white block top-left of the stored image
    pil = Image.fromarray(img)
    exif = pil.getexif()
    exif[0x0112] = 6
    jpg = tmp_path / "phone.jpg"
    pil.save(jpg, exif=exif, quality=95)
    upright = next(iter(open_frames(jpg))).image
    assert upright.shape == (80, 60, 3) and probe(jpg).width == 60
    assert upright[:20, -20:].mean() > 200 and upright[:20, :20].mean() < 50  # now top-right


def test_sequence_with_a_different_size_or_bad_image(sequence):
    folder, images = sequence
    _write(images[7], np.zeros((10, 10, 3), np.uint8))
    with pytest.raises(InputError) as err:
        list(open_frames(folder))
    assert "frame7.png" in str(err.value) and "differs" in str(err.value)
    images[7].write_text("not an image")
    got = []
    with pytest.raises(InputError) as err:
        for f in open_frames(folder):
            got.append(f.index)
    assert got == [0, 1, 2, 3, 4, 5] and "frame7.png" in str(err.value)


def test_list_inputs_rules(tmp_path, media):
    root = tmp_path / "root"
    vid = media["cfr"].read_bytes()
    img = np.zeros((8, 8, 3), np.uint8)
    (root / "sub" / "deeper").mkdir(parents=True)
    for rel in ("b.mp4", "a10.MOV", "a2.mkv", "sub/c.mp4", "sub/deeper/d.webm", ".hidden/e.mp4", "mixed/f.mp4"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(vid)
    for rel in ("shots/s1/0001.png", "shots/s1/0002.png", "shots/s2/x.jpg", "mixed/loose.png", "root_img/a.png"):
        _write(root / rel, img)
    (root / "empty").mkdir()
    (root / "notes.txt").write_text("ignored")

    found = list_inputs([root])
    rel = [p.relative_to(root).as_posix() for p in found]
    # shots/s1 holds numbered frames of one size (a sequence); a lone image is a photo
    assert rel == ["a2.mkv", "a10.MOV", "b.mp4", "mixed/f.mp4", "root_img/a.png", "shots/s1", "shots/s2/x.jpg",
                   "sub/c.mp4", "sub/deeper/d.webm"]
    assert [p.relative_to(root).as_posix() for p in list_inputs(root, recursive=False)] == \
        ["a2.mkv", "a10.MOV", "b.mp4"]
    assert [p.name for p in list_inputs(root, recursive=False, extensions=["mp4"])] == ["b.mp4"]
    # files named explicitly pass through (their errors come from probe); duplicates dropped
    explicit = list_inputs([root / "notes.txt", root / "b.mp4", root, root / "b.mp4"])
    assert explicit[:2] == [root / "notes.txt", root / "b.mp4"] and explicit.count(root / "b.mp4") == 1
    assert list_inputs([root / "empty"]) == []
    with pytest.raises(InputError) as err:
        list_inputs([root / "missing"])
    assert "missing" in str(err.value)
    # every listed input is usable as it is
    assert probe(root / "shots" / "s1").num_frames == 2
