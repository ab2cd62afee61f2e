"""The rule that tells an image sequence (one video) from a photo folder (stills), on real
image files: names, sizes, EXIF capture times, the forcing modes and list_inputs."""
import numpy as np
import pytest
from PIL import Image

from handmocap.errors import InputError
from handmocap.video import is_image_sequence, list_inputs


def _img(path, size=(64, 48), exif_time=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(np.full((size[1], size[0], 3), 90, np.uint8))
    if exif_time:
        exif = Image.Exif()
        exif.get_ifd(0x8769)[0x9003] = exif_time  # DateTimeOriginal
        im.save(path, exif=exif)
    else:
        im.save(path)
    return path


def _folder(tmp_path, names, **kw):
    return [_img(tmp_path / n, **kw) for n in names]


def test_numbered_frames_of_one_size_are_a_sequence(tmp_path):
    frames = _folder(tmp_path / "a", [f"frame_{i:04d}.png" for i in range(1, 6)])
    assert is_image_sequence(frames)
    assert is_image_sequence(_folder(tmp_path / "b", ["0001.jpg", "0002.jpg", "0010.jpg"]))


@pytest.mark.parametrize("names", [
    ["beach.jpg", "dog.jpg", "party.jpg"],            # not numbered
    ["frame_0001.png", "shot_0002.png"],              # two prefixes
    ["frame_0001.png", "frame_0002.jpg"],             # two extensions
    ["frame_0001.png"],                               # one image
])
def test_other_names_are_photos(tmp_path, names):
    assert not is_image_sequence(_folder(tmp_path, names))


def test_mixed_sizes_and_camera_photos_are_photos(tmp_path):
    mixed = _folder(tmp_path / "m", ["f_1.png", "f_2.png"]) + [_img(tmp_path / "m" / "f_3.png", size=(48, 64))]
    assert not is_image_sequence(mixed)
    camera = _folder(tmp_path / "c", ["IMG_0001.JPG", "IMG_0002.JPG"], exif_time="2026:11:30 10:00:00")
    assert not is_image_sequence(camera)
    # forced either way
    assert is_image_sequence(camera, "sequence") and not is_image_sequence(_folder(tmp_path / "s", ["1.png", "2.png"]), "stills")
    with pytest.raises(InputError, match="auto, stills, sequence"):
        is_image_sequence(camera, "videos")


def test_list_inputs_expands_photo_folders_only(tmp_path):
    _folder(tmp_path / "shot", [f"{i:05d}.png" for i in range(4)])
    _folder(tmp_path / "photos", ["b.jpg", "a10.png", "a2.png"])
    _img(tmp_path / "photos" / "c.png", size=(30, 20))
    found = [p.relative_to(tmp_path).as_posix() for p in list_inputs([tmp_path])]
    assert found == ["photos/a2.png", "photos/a10.png", "photos/b.jpg", "photos/c.png", "shot"]
    assert [p.relative_to(tmp_path).as_posix() for p in list_inputs([tmp_path], image_folders="sequence")] == \
        ["photos", "shot"]
    assert len(list_inputs([tmp_path], image_folders="stills")) == 8
