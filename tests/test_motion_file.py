"""Schema tests of the versioned motion file."""
import json
import zipfile

import numpy as np
import pytest

from handmocap import FormatError, load_motion, save_motion
from handmocap.motion import SCHEMA_VERSION, TRACK_ARRAYS, motion_paths


def test_round_trip_keeps_every_array(tmp_path, motion):
    path = save_motion(motion, tmp_path / "clip")
    assert path.name == "clip.motion.npz"
    back = load_motion(tmp_path / "clip")
    assert back.fps == motion.fps and back.image_size == motion.image_size
    assert back.camera == motion.camera and back.hand_model_id == motion.hand_model_id
    assert [t.side for t in back.tracks] == ["right", "left"]
    for a, b in zip(motion.tracks, back.tracks):
        for name, (dtype, _) in TRACK_ARRAYS.items():
            np.testing.assert_allclose(getattr(b, name), np.asarray(getattr(a, name), dtype=dtype), atol=1e-6)
            assert getattr(b, name).dtype == dtype


def test_sidecar_is_readable_json(tmp_path, motion):
    save_motion(motion, tmp_path / "clip")
    meta = json.loads((tmp_path / "clip.motion.json").read_text())
    assert meta["version"] == SCHEMA_VERSION
    assert meta["tracks"][0]["frames"] == motion.num_frames
    assert meta["camera"]["model"] == "perspective"


def test_no_partial_files_left(tmp_path, motion):
    save_motion(motion, tmp_path / "clip")
    assert not list(tmp_path.glob(".*partial"))


def test_wrong_shape_is_refused_before_writing(tmp_path, motion):
    motion.tracks[0].transl = motion.tracks[0].transl[:, :2]
    with pytest.raises(FormatError, match="transl"):
        save_motion(motion, tmp_path / "bad")
    assert not motion_paths(tmp_path / "bad")[0].exists()


def _rewrite(path, drop=None, meta_patch=None):
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    if drop:
        del data[drop]
    if meta_patch:
        meta = json.loads(str(data["meta_json"]))
        meta.update(meta_patch)
        data["meta_json"] = np.asarray(json.dumps(meta))
    np.savez(path, **data)


def test_missing_array_named(tmp_path, motion):
    p = save_motion(motion, tmp_path / "clip")
    _rewrite(p, drop="t1.hand_pose")
    with pytest.raises(FormatError, match=r"t1\.hand_pose"):
        load_motion(p)


def test_future_version_refused(tmp_path, motion):
    p = save_motion(motion, tmp_path / "clip")
    _rewrite(p, meta_patch={"version": SCHEMA_VERSION + 1})
    with pytest.raises(FormatError, match="version"):
        load_motion(p)


def test_corrupt_file_names_itself(tmp_path):
    p = tmp_path / "junk.motion.npz"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(FormatError, match="junk.motion.npz"):
        load_motion(p)
    assert not zipfile.is_zipfile(p)
