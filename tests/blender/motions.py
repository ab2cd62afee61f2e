"""Motion files for the add-on tests, written with the handmocap package (torch).

The add-on tests also run on bpy 4.2 in an environment without torch (`make test-bpy42`):
there the files come from a folder this script filled beforehand with the main
environment (`python tests/blender/motions.py DIR`, named by HANDMOCAP_TEST_MOTIONS).
"""
from __future__ import annotations

import sys
from pathlib import Path

NAMES = ("synthetic",)


def write_test_motions(out_dir) -> Path:
    """Write synthetic.motion.npz (two hands opening and closing, tests/conftest.py) to out_dir."""
    import importlib.util

    from handmocap.motion import save_motion

    spec = importlib.util.spec_from_file_location("handmocap_tests_conftest",
                                                  Path(__file__).resolve().parents[1] / "conftest.py")
    shared = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shared)
    synthetic_motion = shared.synthetic_motion

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_motion(synthetic_motion(), out_dir / "synthetic")
    return out_dir


if __name__ == "__main__":
    print(write_test_motions(sys.argv[1]))
