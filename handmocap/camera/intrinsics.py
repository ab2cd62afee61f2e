"""Camera intrinsics: a frozen dataclass, construction from FOV or an OpenCV-style file, saving,
and undistortion of keypoints.

Pixel-centre convention throughout: the centre of the top-left pixel is (0, 0), so the image
centre of a W x H image is ((W - 1) / 2, (H - 1) / 2).

Files read by `Intrinsics.from_file` (JSON or YAML; the first matching key wins):
    camera matrix:  camera_matrix | K | cameraMatrix | intrinsic_matrix | mtx
                    (a 3x3 nested list, 9 numbers, or an OpenCV matrix node {rows, cols, data})
                    or the scalars fx, fy, cx, cy
    distortion:     distortion_coefficients | dist_coeffs | distCoeffs | dist | D  (optional)
    image size:     image_width + image_height | width + height | image_size [w, h]  (optional)
This covers OpenCV `FileStorage` YAML (`%YAML:1.0`, `!!opencv-matrix`), OpenCV's JSON,
ROS camera_info YAML and the files `Intrinsics.save` / `handmocap calibrate` write.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..errors import FormatError, InputError

_K_KEYS = ("camera_matrix", "K", "cameraMatrix", "intrinsic_matrix", "mtx")
_DIST_KEYS = ("distortion_coefficients", "dist_coeffs", "distCoeffs", "dist", "D")


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels, with optional OpenCV distortion coefficients.

    Attributes:
        fx, fy: focal lengths (px).
        cx, cy: principal point (px, pixel-centre convention).
        width, height: image size (px) the values refer to; None when unknown.
        dist: OpenCV distortion coefficients (k1, k2, p1, p2[, k3[, k4, k5, k6[, ...]]]) or None.
    """

    fx: float
    fy: float
    cx: float
    cy: float
    width: int | None = None
    height: int | None = None
    dist: tuple | None = None

    def __post_init__(self):
        for name in ("fx", "fy", "cx", "cy"):
            v = getattr(self, name)
            if not isinstance(v, (int, float, np.floating, np.integer)) or not math.isfinite(float(v)):
                raise InputError(None, f"intrinsics: {name} must be a finite number, got {v!r}")
            object.__setattr__(self, name, float(v))
        if self.fx <= 0 or self.fy <= 0:
            raise InputError(None, f"intrinsics: focal lengths must be > 0, got fx={self.fx}, fy={self.fy}")
        for name in ("width", "height"):
            v = getattr(self, name)
            if v is not None:
                if int(v) != v or int(v) <= 0:
                    raise InputError(None, f"intrinsics: {name} must be a positive integer, got {v!r}")
                object.__setattr__(self, name, int(v))
        if self.dist is not None:
            d = tuple(float(x) for x in np.asarray(self.dist, dtype=float).ravel())
            if len(d) not in (4, 5, 8, 12, 14) or not all(math.isfinite(x) for x in d):
                raise InputError(None, f"intrinsics: distortion needs 4, 5, 8, 12 or 14 finite numbers, got {d}")
            object.__setattr__(self, "dist", None if not any(d) else d)

    # construction ---------------------------------------------------------------------
    @classmethod
    def from_matrix(cls, K, width: int | None = None, height: int | None = None, dist=None) -> "Intrinsics":
        """From a 3x3 camera matrix (numpy, torch or nested list; skew must be 0)."""
        K = np.asarray(K.detach().cpu().numpy() if hasattr(K, "detach") else K, dtype=float)
        if K.shape != (3, 3):
            raise InputError(None, f"camera matrix: expected 3x3, got shape {K.shape}")
        if abs(K[0, 1]) > 1e-9 * abs(K[0, 0]) or np.any(K[2] != [0, 0, 1]) or K[1, 0] != 0:
            raise InputError(None, f"camera matrix: expected [[fx,0,cx],[0,fy,cy],[0,0,1]], got {K.tolist()}")
        return cls(K[0, 0], K[1, 1], K[0, 2], K[1, 2], width, height, dist)

    @classmethod
    def from_fov(cls, fov_deg: float, width: int, height: int, axis: str = "horizontal") -> "Intrinsics":
        """Square pixels, principal point at the image centre, given field of view.

        Args:
            fov_deg: field of view in degrees, 0 < fov < 180, across `axis`.
            width, height: image size (px).
            axis: "horizontal" (across the width), "vertical", or "max" (the larger side).
        """
        if not (0.0 < float(fov_deg) < 180.0):
            raise InputError(None, f"field of view must be in (0, 180) degrees, got {fov_deg}")
        side = {"horizontal": width, "vertical": height, "max": max(width, height)}.get(axis)
        if side is None:
            raise InputError(None, f"fov axis must be horizontal, vertical or max, got {axis!r}")
        f = 0.5 * side / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, (width - 1) / 2, (height - 1) / 2, width, height)

    @classmethod
    def from_file(cls, path: str | Path) -> "Intrinsics":
        """Read an OpenCV-style calibration file (.json, .yaml, .yml); see the module docstring."""
        path = Path(path)
        if path.suffix.lower() not in (".json", ".yaml", ".yml"):
            raise InputError(path, f"unsupported calibration format '{path.suffix}' (use .json, .yaml or .yml)")
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(path, f"cannot read calibration file ({exc.__class__.__name__}: {exc})") from None
        data = _parse_calibration_text(path, text)
        if not isinstance(data, dict):
            raise FormatError(path, "calibration file must hold a mapping with a camera matrix")
        try:
            K = _find_matrix(data)
            dist = _find(data, _DIST_KEYS)
            dist = None if dist is None else _as_array(dist).ravel()
            width, height = _find_size(data)
            return cls.from_matrix(K, width, height, None if dist is None or dist.size == 0 else dist)
        except InputError as exc:
            raise FormatError(path, exc.reason) from None
        except (TypeError, ValueError, KeyError, IndexError, AttributeError, OverflowError) as exc:
            raise FormatError(path, f"malformed calibration ({exc})") from None

    # conversion -----------------------------------------------------------------------
    def K(self, dtype: "torch.dtype" = None, device=None) -> "torch.Tensor":
        """(3, 3) camera matrix as a tensor (float64 unless `dtype`)."""
        import torch

        dtype = torch.float64 if dtype is None else dtype
        return torch.tensor([[self.fx, 0.0, self.cx], [0.0, self.fy, self.cy], [0.0, 0.0, 1.0]],
                            dtype=dtype, device=device)

    def matrix(self) -> np.ndarray:
        """(3, 3) float64 numpy camera matrix."""
        return self.K().numpy()

    @property
    def size(self) -> tuple[int, int] | None:
        """(width, height) or None."""
        return None if self.width is None or self.height is None else (self.width, self.height)

    def fov_deg(self) -> tuple[float, float]:
        """(horizontal, vertical) field of view in degrees; needs the image size."""
        if self.size is None:
            raise InputError(None, "intrinsics: field of view needs the image size")
        return (math.degrees(2 * math.atan(0.5 * self.width / self.fx)),
                math.degrees(2 * math.atan(0.5 * self.height / self.fy)))

    def scaled(self, sx: float, sy: float | None = None) -> "Intrinsics":
        """Intrinsics of the image resized by factors (sx, sy) (pixel-centre convention).

        A pixel centre u maps to (u + 0.5) * s - 0.5, so cx' = (cx + 0.5) * sx - 0.5.
        Distortion coefficients act on normalised coordinates and are unchanged.
        """
        sy = sx if sy is None else sy
        w = None if self.width is None else int(round(self.width * sx))
        h = None if self.height is None else int(round(self.height * sy))
        return replace(self, fx=self.fx * sx, fy=self.fy * sy, cx=(self.cx + 0.5) * sx - 0.5,
                       cy=(self.cy + 0.5) * sy - 0.5, width=w, height=h)

    def resized(self, width: int, height: int) -> "Intrinsics":
        """Intrinsics for a (width, height) image of the same camera.

        When the size is unknown the values are taken to refer to this size already.
        """
        if self.size is None:
            return replace(self, width=int(width), height=int(height))
        if (width, height) == self.size:
            return self
        return replace(self.scaled(width / self.width, height / self.height), width=int(width), height=int(height))

    def to_dict(self) -> dict:
        """JSON-ready mapping in the layout `from_file` reads."""
        d = {"camera_matrix": self.matrix().tolist(),
             "distortion_coefficients": list(self.dist) if self.dist else [],
             "fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        if self.size is not None:
            d["image_width"], d["image_height"] = self.width, self.height
        return d

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        """Write an OpenCV-style calibration file: .json (plain JSON) or .yaml/.yml
        (OpenCV FileStorage, readable with cv2.FileStorage). `extra` adds scalar fields."""
        from ..export.mesh import write_atomic

        path = Path(path)
        suffix = path.suffix.lower()
        if suffix == ".json":
            data = {**self.to_dict(), **(extra or {})}
            return write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
        if suffix in (".yaml", ".yml"):
            import cv2

            fs = cv2.FileStorage(path.name, cv2.FILE_STORAGE_WRITE | cv2.FILE_STORAGE_MEMORY
                                 | cv2.FILE_STORAGE_FORMAT_YAML)
            fs.write("camera_matrix", self.matrix())
            fs.write("distortion_coefficients", np.asarray(self.dist or (0.0, 0.0, 0.0, 0.0, 0.0), float)[None])
            if self.size is not None:
                fs.write("image_width", self.width)
                fs.write("image_height", self.height)
            for key, value in (extra or {}).items():
                fs.write(key, value)
            return write_atomic(path, fs.releaseAndGetString().encode())
        raise InputError(path, f"unsupported calibration format '{path.suffix}' (use .json, .yaml or .yml)")


def _parse_calibration_text(path: Path, text: str):
    suffix = path.suffix.lower()
    if suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(path, f"invalid JSON ({exc})") from None
        except (RecursionError, ValueError):
            raise FormatError(path, "invalid JSON (nested too deeply or out of range)") from None
    if suffix in (".yaml", ".yml"):
        if text.lstrip().startswith("%YAML:1"):
            return _read_opencv_yaml(path, text)
        import yaml

        try:
            return yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise FormatError(path, f"invalid YAML ({(str(exc).splitlines() or ['?'])[0]})") from None
        except (RecursionError, ValueError, TypeError, OverflowError):
            raise FormatError(path, "invalid YAML (nested too deeply or values out of range)") from None
    raise InputError(path, f"unsupported calibration format '{path.suffix}' (use .json, .yaml or .yml)")


def _read_opencv_yaml(path: Path, text: str) -> dict:
    """OpenCV FileStorage YAML (with `!!opencv-matrix` nodes) -> plain dict of arrays/scalars."""
    try:
        return _opencv_yaml_nodes(text)
    except Exception as exc:  # cv2.error, and SystemError from OpenCV's binding on bad input
        raise FormatError(path, f"invalid OpenCV YAML ({type(exc).__name__})") from None


def _opencv_yaml_nodes(text: str) -> dict:
    import cv2

    fs = cv2.FileStorage(text, cv2.FILE_STORAGE_READ | cv2.FILE_STORAGE_MEMORY)
    out = {}
    root = fs.root()
    for key in root.keys():
        node = root.getNode(key)
        if node.isMap() and not node.empty() and node.mat() is not None:
            out[key] = node.mat()
        elif node.isReal() or node.isInt():
            out[key] = node.real()
        elif node.isSeq():
            out[key] = [node.at(i).real() for i in range(node.size())]
        elif node.isMap():
            m = node.mat()
            if m is not None:
                out[key] = m
    fs.release()
    return out


def _find(data: dict, keys):
    for k in keys:
        if k in data and data[k] is not None:
            return data[k]
    return None


def _as_array(value) -> np.ndarray:
    if isinstance(value, dict) and "data" in value:  # OpenCV JSON / ROS matrix node
        arr = np.asarray(value["data"], dtype=float)
        if "rows" in value and "cols" in value:
            arr = arr.reshape(int(value["rows"]), int(value["cols"]))
        return arr
    return np.asarray(value, dtype=float)


def _find_matrix(data: dict) -> np.ndarray:
    K = _find(data, _K_KEYS)
    if K is not None:
        K = _as_array(K)
        if K.size != 9:
            raise InputError(None, f"camera matrix must have 9 numbers, got {K.size}")
        return K.reshape(3, 3)
    if all(k in data for k in ("fx", "fy", "cx", "cy")):
        return np.array([[data["fx"], 0, data["cx"]], [0, data["fy"], data["cy"]], [0, 0, 1]], float)
    raise InputError(None, f"no camera matrix (looked for {', '.join(_K_KEYS)} or fx/fy/cx/cy)")


def _find_size(data: dict):
    for wk, hk in (("image_width", "image_height"), ("width", "height")):
        if wk in data and hk in data:
            return int(data[wk]), int(data[hk])
    if "image_size" in data:
        w, h = np.asarray(data["image_size"]).ravel()[:2]
        return int(w), int(h)
    return None, None


def undistort_points(points_px, intrinsics: Intrinsics, iterations: int = 20):
    """Remove lens distortion from pixel keypoints (OpenCV model; not differentiable).

    Args:
        points_px: (..., 2) distorted pixels, numpy array or tensor (NaNs pass through).
        intrinsics: `Intrinsics` with `dist`; without distortion the points are returned as is.
        iterations: fixed-point iterations of OpenCV's inverse model.

    Returns:
        (..., 2) undistorted pixels for the same K, of the input's type, dtype and device.
    """
    if intrinsics.dist is None:
        return points_px
    import cv2

    is_torch = hasattr(points_px, "detach")
    arr = points_px.detach().cpu().double().numpy() if is_torch else np.asarray(points_px, dtype=np.float64)
    if arr.shape[-1:] != (2,):
        raise InputError(None, f"points_px: expected shape (..., 2), got {arr.shape}")
    flat = arr.reshape(-1, 1, 2)
    K = intrinsics.matrix()
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, iterations, 1e-12)
    und = cv2.undistortPointsIter(flat, K, np.asarray(intrinsics.dist), None, K, criteria)
    out = und.reshape(arr.shape)
    if is_torch:
        import torch

        return torch.as_tensor(out, dtype=points_px.dtype, device=points_px.device)
    return out.astype(np.asarray(points_px).dtype if np.asarray(points_px).dtype.kind == "f" else np.float64)


__all__ = ["Intrinsics", "undistort_points"]
