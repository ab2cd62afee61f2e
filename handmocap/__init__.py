"""handmocap: ordinary videos of hands -> camera-space MANO-format hand motion.

Shape letters used in docstrings throughout the package:
    B  batch (hands or frames solved together)
    T  frames of a track
    J  21 keypoints (MediaPipe order, see `handmocap.hand.joints`), 16 for MANO joints
    V  mesh vertices;  F  triangles;  S  shape coefficients (betas)
Units: metres for every 3D quantity; pixels only for image keypoints (`*_px`, pixel-centre
convention: the centre of the top-left pixel is (0, 0)). Camera frame: OpenCV (x right,
y down, z forward).
"""
from .errors import AssetError, FormatError, HandmocapError, InputError, ShapeError
from .motion import Motion, Track, load_motion, save_motion
from .track.pipeline import TrackOptions, track_input
from .track.stills import track_still

# the hand model pulls in torch (seconds): imported on first use, so the command line
# answers a bad option at once
_LAZY = {"HandAsset": "handmocap.hand", "HandModel": "handmocap.hand", "load_hand_asset": "handmocap.hand"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'handmocap' has no attribute {name!r}")

__version__ = "0.1.0"

__all__ = [
    "AssetError", "FormatError", "HandAsset", "HandModel", "HandmocapError", "InputError",
    "Motion", "ShapeError", "Track", "TrackOptions", "load_hand_asset", "load_motion", "save_motion",
    "track_input", "track_still", "__version__",
]
