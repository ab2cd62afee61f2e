"""Shared by the export tests: the Khronos glTF validator, run offline through node."""
import json
import shutil
import subprocess
from pathlib import Path

import pytest

VALIDATOR = Path(__file__).resolve().parents[2] / "tools" / "node" / "validate_gltf.mjs"


def validate(path: Path) -> dict:
    """The validator's full JSON report for a .glb file."""
    if shutil.which("node") is None or not (VALIDATOR.parent / "node_modules" / "gltf-validator").exists():
        pytest.fail("the glTF validator is not installed: run `make test` (npm install in tools/node)")
    out = subprocess.run(["node", str(VALIDATOR), str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)
