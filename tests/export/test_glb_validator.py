"""GLB export: the Khronos glTF validator (npm gltf-validator, run offline) finds nothing.
Timing edge cases (late hands, gaps, bad timestamps) are in test_glb.py."""
from gltf_validator import validate

from handmocap.export.glb import export_glb


def test_two_hand_glb_is_valid(tmp_path, motion):
    report = validate(export_glb(motion, tmp_path / "hands.glb"))
    issues, info = report["issues"], report["info"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]
    assert (issues["numInfos"], issues["numHints"]) == (0, 0), issues["messages"]
    assert (info["animationCount"], info["drawCallCount"], info["maxInfluences"], info["hasSkins"]) == (2, 2, 4, True)
