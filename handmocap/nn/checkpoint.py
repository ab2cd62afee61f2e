"""Checkpoints of the learned models: one torch file holding the model kind, its config, the
weights and (for training) optimiser state, step and a few extras.

Files are read with `torch.load(weights_only=True)`: no pickled code runs, so a checkpoint
from anywhere is safe to open. Writes are atomic (a crash never leaves half a file).
The keypoint model's shipped weights live in `handmocap/nn/weights/keypoint_model.pt`
(float16 to keep the wheel small; loaded as float32).
"""
from __future__ import annotations

import io
from importlib import resources
from pathlib import Path

import torch

from ..errors import AssetError, InputError

FORMAT = "handmocap-nn-checkpoint"
VERSION = 1
KINDS = ("keypoints", "image")


def default_weights_path() -> Path:
    """Path of the shipped keypoint-model weights (inside the package)."""
    return Path(str(resources.files("handmocap.nn") / "weights" / "keypoint_model.pt"))


def save_checkpoint(path: str | Path, *, kind: str, model_config: dict, model_state: dict,
                    optimizer_state: dict | None = None, step: int = 0, extra: dict | None = None,
                    half: bool = False) -> Path:
    """Write a checkpoint atomically.

    Args:
        path: destination (.pt).
        kind: "keypoints" or "image".
        model_config: the model's config as plain data (dict of str/int/float/bool).
        model_state: `model.state_dict()`.
        optimizer_state, step, extra: training state (extra: plain data and tensors only).
        half: store floating weights as float16 (shipped weights).
    """
    from ..export.mesh import write_atomic

    if kind not in KINDS:
        raise InputError(path, f"checkpoint kind must be one of {KINDS}, got {kind!r}")
    state = {k: (v.detach().cpu().half() if half and v.is_floating_point() else v.detach().cpu())
             for k, v in model_state.items()}
    blob = {"format": FORMAT, "version": VERSION, "kind": kind, "config": dict(model_config), "model": state,
            "optimizer": optimizer_state, "step": int(step), "extra": extra or {}}
    buf = io.BytesIO()
    torch.save(blob, buf)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, buf.getvalue())
    return path


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Read a checkpoint written by `save_checkpoint` (safe: weights_only).

    Raises:
        InputError: missing file.  AssetError: not a handmocap checkpoint / unreadable.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        blob = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises many kinds for corrupt or unsafe files
        raise AssetError(str(path), f"unreadable checkpoint ({exc.__class__.__name__}: {str(exc)[:200]})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise AssetError(str(path), "not a handmocap model checkpoint")
    if blob.get("version", 0) > VERSION:
        raise AssetError(str(path), f"checkpoint version {blob.get('version')} is newer than this handmocap ({VERSION})")
    return blob


def load_keypoint_model(path: str | Path | None = None, device="cpu"):
    """The keypoint model with its weights, in eval mode, float32.

    Args:
        path: checkpoint; None = the shipped weights (no download).
        device: torch device.
    """
    from .keypoint_model import KeypointModel, KeypointModelConfig

    path = default_weights_path() if path is None else Path(path)
    blob = load_checkpoint(path)
    if blob["kind"] != "keypoints":
        raise AssetError(str(path), f"expected a keypoint-model checkpoint, got kind {blob['kind']!r}")
    try:
        model = KeypointModel(KeypointModelConfig(**blob["config"]))
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in blob["model"].items()})
    except (TypeError, ValueError, RuntimeError) as exc:
        raise AssetError(str(path), f"checkpoint does not match the keypoint model ({str(exc)[:200]})") from None
    return model.to(device).eval()


__all__ = ["default_weights_path", "load_checkpoint", "load_keypoint_model", "save_checkpoint"]
