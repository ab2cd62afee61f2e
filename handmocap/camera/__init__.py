"""Cameras: pinhole intrinsics, weak perspective, rectification, calibration."""
