"""GLB export: the Khronos glTF validator (npm gltf-validator, run offline) finds nothing."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from handmocap.export.glb import export_glb

VALIDATOR = Path(__file__).resolve().parents[2] / "tools" / "node" / "validate_gltf.mjs"
NODE_MODULES = VALIDATOR.parent / "node_modules" / "gltf-validator"


def validate(path: Path) -> dict:
    if shutil.which("node") is None or not NODE_MODULES.exists():
        pytest.fail("the glTF validator is not installed: run `make test` (npm install in tools/node)")
    out = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_two_hand_glb_is_valid(tmp_path, motion):
    report = validate(export_glb(motion, tmp_path / "hands.glb"))
    issues = report["issues"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]
    info = report["info"]
    assert info["animationCount"] == 2 and info["skinCount"] if "skinCount" in info else True
    assert info["animationCount"] == len(motion.tracks)


def test_glb_with_gaps_is_valid(tmp_path, motion):
    """A track that starts late and has a hole hides the hand there (STEP scale keys)."""
    import numpy as np

    t = motion.tracks[1]
    keep = np.r_[3:10, 14:len(t)]
    for name in ("frame_index", "timestamp_s", "global_orient", "hand_pose", "transl", "keypoints_px",
                 "keypoints_cam", "keypoints_rel", "confidence", "score", "detected", "reprojection_px"):
        setattr(t, name, getattr(t, name)[keep])
    issues = validate(export_glb(motion, tmp_path / "gaps.glb"))["issues"]
    assert (issues["numErrors"], issues["numWarnings"]) == (0, 0), issues["messages"]
