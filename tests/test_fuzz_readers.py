"""Fuzzing the readers of files users bring: calibration JSON/YAML, motion files, hand
models. Whatever the bytes, a reader either returns or raises the project's own error
type (`HandmocapError`): never a KeyError, a numpy or zip error, a hang.

Each reader gets random files and files derived from a valid one (truncated, bytes
flipped, keys dropped, values of the wrong type or shape). Examples are derandomised so
the suite is repeatable; HANDMOCAP_FUZZ_EXAMPLES=N runs N random examples per reader.
"""
from __future__ import annotations

import io
import json
import os
import pickle
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from handmocap.camera.intrinsics import Intrinsics
from handmocap.errors import HandmocapError
from handmocap.hand.assets import REQUIRED_KEYS, bundled_asset_path, load_hand_asset
from handmocap.motion import TRACK_ARRAYS, CameraInfo, Motion, Track, load_motion, save_motion

_RANDOM = int(os.environ.get("HANDMOCAP_FUZZ_EXAMPLES", "0"))


def fuzz_settings(examples: int):
    return settings(max_examples=_RANDOM or examples, deadline=None, derandomize=not _RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@pytest.fixture(scope="module")
def scratch():
    with tempfile.TemporaryDirectory(prefix="handmocap-fuzz-") as d:
        yield Path(d)


_counter = iter(range(10**9))


def _write(folder: Path, suffix: str, data: bytes) -> Path:
    path = folder / f"f{next(_counter)}{suffix}"
    path.write_bytes(data)
    return path


def _only_our_errors(read, path: Path):
    try:
        read(path)
    except HandmocapError:
        pass
    finally:
        path.unlink(missing_ok=True)


def _mutate(data: bytes, cut: float, flips: list[tuple[float, int]]) -> bytes:
    """Flip bytes at relative positions, then truncate at a relative length."""
    buf = bytearray(data)
    for where, value in flips:
        if buf:
            buf[int(where * (len(buf) - 1))] = value
    return bytes(buf[: max(0, int(cut * len(buf)))]) if cut < 1.0 else bytes(buf)


mutations = st.tuples(st.one_of(st.just(1.0), st.floats(0, 1)),
                      st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8))

# ---------------------------------------------------------------------------- calibration
K_KEYS = ["camera_matrix", "K", "cameraMatrix", "intrinsic_matrix", "mtx", "fx", "fy", "cx", "cy",
          "distortion_coefficients", "dist_coeffs", "D", "image_width", "image_height", "width", "height",
          "image_size", "rows", "cols", "data"]
scalars = st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats() | st.text(max_size=8)
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=10)
                           | st.dictionaries(st.sampled_from(K_KEYS) | st.text(max_size=6), inner, max_size=6),
                           max_leaves=40)
matrices = st.one_of(
    st.lists(st.floats(), min_size=0, max_size=12),
    st.lists(st.lists(st.floats() | st.integers(), max_size=4), max_size=4),
    st.fixed_dictionaries({"rows": st.integers(-3, 5) | st.text(max_size=2), "cols": st.integers(-3, 5),
                           "data": st.lists(st.floats() | st.text(max_size=2), max_size=12)}),
)
calibrations = st.dictionaries(st.sampled_from(K_KEYS), json_values | matrices, max_size=8)


def _dump(doc, fmt: str) -> bytes:
    if fmt == "json":
        return json.dumps(doc).encode()
    return yaml.safe_dump(doc).encode()


@fuzz_settings(150)
@given(doc=calibrations | json_values, fmt=st.sampled_from(["json", "yaml"]), mut=mutations)
def test_calibration_reader(scratch, doc, fmt, mut):
    data = _mutate(_dump(doc, fmt), *mut)
    _only_our_errors(Intrinsics.from_file, _write(scratch, "." + fmt, data))


@fuzz_settings(120)
@given(raw=st.binary(max_size=400), suffix=st.sampled_from([".json", ".yaml", ".yml"]))
def test_calibration_reader_random_bytes(scratch, raw, suffix):
    _only_our_errors(Intrinsics.from_file, _write(scratch, suffix, raw))


OPENCV_YAML = (b"%YAML:1.0\n---\ncamera_matrix: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
               b"   data: [ 800., 0., 320., 0., 800., 240., 0., 0., 1. ]\ndistortion_coefficients: !!opencv-matrix\n"
               b"   rows: 1\n   cols: 5\n   dt: d\n   data: [ 0., 0., 0., 0., 0. ]\nimage_width: 640\nimage_height: 480\n")


@fuzz_settings(150)
@given(mut=mutations, tail=st.binary(max_size=40))
def test_calibration_reader_opencv_yaml(scratch, mut, tail):
    _only_our_errors(Intrinsics.from_file, _write(scratch, ".yaml", _mutate(OPENCV_YAML, *mut) + tail))


# ---------------------------------------------------------------------------- motion files
def _valid_motion_bytes(folder: Path, frames: int = 3) -> bytes:
    arrays = {name: np.zeros((frames, *shape), dtype) for name, (dtype, shape) in TRACK_ARRAYS.items()}
    arrays["frame_index"] = np.arange(frames)
    track = Track(track_id=0, side="right", betas=np.zeros(10, np.float32), **arrays)
    K = ((500.0, 0.0, 320.0), (0.0, 500.0, 240.0), (0.0, 0.0, 1.0))
    motion = Motion(source="clip.mp4", fps=30.0, num_frames=frames, image_size=(640, 480),
                    camera=CameraInfo("perspective", K, "given", (640, 480)), hand_model_id="open_hand-x",
                    tracks=[track])
    return save_motion(motion, folder / "valid").read_bytes()


@pytest.fixture(scope="module")
def valid_motion(scratch):
    data = _valid_motion_bytes(scratch)
    load_motion(_write(scratch, ".motion.npz", data))  # the unmutated file reads
    return data


def _npz_bytes(arrays: dict) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


arrays = st.one_of(
    st.builds(lambda shape, dtype: np.zeros(shape, dtype),
              st.lists(st.integers(0, 4), max_size=3).map(tuple),
              st.sampled_from([np.float32, np.float64, np.int64, np.bool_, "U3", np.complex64])),
    st.text(max_size=20).map(np.asarray),
    json_values.map(lambda v: np.asarray(json.dumps(v))),
)


@fuzz_settings(200)
@given(mut=mutations)
def test_motion_reader_damaged_file(scratch, valid_motion, mut):
    _only_our_errors(load_motion, _write(scratch, ".motion.npz", _mutate(valid_motion, *mut)))


@fuzz_settings(100)
@given(meta=json_values | st.dictionaries(st.sampled_from(["schema", "version", "tracks", "camera", "fps",
                                                           "num_frames", "image_size", "source", "hand_model_id",
                                                           "track_id", "side", "K", "model", "extra"]),
                                          json_values, max_size=10),
       keep_schema=st.booleans(), replace=st.dictionaries(st.sampled_from(
           [f"t0.{n}" for n in (*TRACK_ARRAYS, "betas")] + ["meta_json", "t1.frame_index"]), arrays, max_size=3))
def test_motion_reader_wrong_contents(scratch, valid_motion, meta, keep_schema, replace):
    with np.load(io.BytesIO(valid_motion)) as z:
        contents = {k: z[k] for k in z.files}
    if keep_schema and isinstance(meta, dict):
        meta = {**json.loads(str(contents["meta_json"])), **meta, "schema": "handmocap.motion", "version": 1}
    contents["meta_json"] = np.asarray(json.dumps(meta))
    contents.update(replace)
    _only_our_errors(load_motion, _write(scratch, ".motion.npz", _npz_bytes(contents)))


@fuzz_settings(80)
@given(raw=st.binary(max_size=300), zipped=st.booleans())
def test_motion_reader_random_bytes(scratch, raw, zipped):
    if zipped:  # a zip whose member is garbage
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("meta_json.npy", raw)
        raw = buf.getvalue()
    _only_our_errors(load_motion, _write(scratch, ".motion.npz", raw))


# ---------------------------------------------------------------------------- hand models
@pytest.fixture(scope="module")
def model_arrays():
    with np.load(bundled_asset_path()) as z:
        return {k: z[k] for k in z.files}


def _load_model(path: Path):
    return load_hand_asset(path, side="right")


@fuzz_settings(60)
@given(drop=st.lists(st.sampled_from(sorted(REQUIRED_KEYS)), max_size=2),
       replace=st.dictionaries(st.sampled_from(sorted(REQUIRED_KEYS) + ["fingertip_vertex_ids", "side"]),
                               arrays, max_size=2))
def test_hand_model_reader_wrong_arrays(scratch, model_arrays, drop, replace):
    contents = {k: v for k, v in model_arrays.items() if k not in drop}
    contents.update(replace)
    _only_our_errors(_load_model, _write(scratch, ".npz", _npz_bytes(contents)))


@fuzz_settings(40)
@given(mut=mutations)
def test_hand_model_reader_damaged_npz(scratch, mut):
    raw = bundled_asset_path().read_bytes()
    # flips land in the first 64 KiB (headers, the first arrays) where they matter most
    head, rest = raw[:65536], raw[65536:]
    cut, flips = mut
    damaged = _mutate(head, 1.0, flips) + rest
    _only_our_errors(_load_model, _write(scratch, ".npz", damaged[: int(cut * len(damaged))] if cut < 1 else damaged))


pickled_values = st.recursive(scalars | arrays, lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.sampled_from(sorted(REQUIRED_KEYS)) | st.text(max_size=4),
                                                inner, max_size=6), max_leaves=20)


@fuzz_settings(100)
@given(value=pickled_values, protocol=st.integers(0, 5), mut=mutations)
def test_hand_model_reader_pickles(scratch, value, protocol, mut):
    data = _mutate(pickle.dumps(value, protocol=protocol), *mut)
    _only_our_errors(_load_model, _write(scratch, ".pkl", data))
