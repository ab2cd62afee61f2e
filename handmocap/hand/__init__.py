"""Hand model: assets (MANO layout), the LBS layer, joint tables, mirroring, pose priors."""
from .assets import HandAsset, load_hand_asset, mirror_asset


def __getattr__(name: str):
    # the layer pulls in torch (seconds): imported on first use (model files are read
    # and checked without it)
    if name in ("HandModel", "HandOutput", "cached_hand_model"):
        from . import layer

        return getattr(layer, name)
    raise AttributeError(f"module 'handmocap.hand' has no attribute {name!r}")


__all__ = ["HandAsset", "HandModel", "HandOutput", "cached_hand_model", "load_hand_asset", "mirror_asset"]
