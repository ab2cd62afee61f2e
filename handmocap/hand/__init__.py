"""Hand model: assets (MANO layout), the LBS layer, joint tables, mirroring, pose priors."""
from .assets import HandAsset, load_hand_asset, mirror_asset
from .layer import HandModel, HandOutput, cached_hand_model

__all__ = ["HandAsset", "HandModel", "HandOutput", "cached_hand_model", "load_hand_asset", "mirror_asset"]
