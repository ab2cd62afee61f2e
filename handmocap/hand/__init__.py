"""Hand model: assets (MANO layout), the LBS layer, joint tables, mirroring, pose priors."""
from .assets import HandAsset, load_hand_asset, mirror_asset
from .layer import HandModel, HandOutput

__all__ = ["HandAsset", "HandModel", "HandOutput", "load_hand_asset", "mirror_asset"]
