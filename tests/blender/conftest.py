"""Fixtures of the add-on tests. They run with the pinned bpy (main environment) and with
bpy 4.2 LTS in a torch-free environment (`make test-bpy42`, conftest files above this
folder not loaded): nothing here imports torch or the handmocap package at import time."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1]))  # blender_addon.core (bpy-free) for the tests

if importlib.util.find_spec("torch") is None:  # bpy 4.2 environment: the package's tests stay out
    collect_ignore = ["test_fbx.py", "test_glb_import.py", "test_track_video.py"]

RIGIFY_SCRIPT = """
import os, sys, bpy
bpy.ops.wm.read_factory_settings(use_empty=True)
bpy.ops.preferences.addon_enable(module="rigify")
bpy.ops.object.armature_human_metarig_add()
meta = bpy.context.active_object
meta.name = "metarig"
bpy.ops.pose.rigify_generate()
rig = next(o for o in bpy.data.objects if o.type == "ARMATURE" and o is not meta)
rig.name = "rig"
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1])
sys.stdout.flush()
os._exit(0)  # bpy 4.2 may crash at exit after rigify_generate (Blender's bug)
"""


@pytest.fixture(scope="session")
def motion_dir(tmp_path_factory) -> Path:
    """Folder with synthetic.motion.npz (see motions.py)."""
    given = os.environ.get("HANDMOCAP_TEST_MOTIONS")
    if given:
        return Path(given)
    from motions import write_test_motions

    return write_test_motions(tmp_path_factory.mktemp("motions"))


@pytest.fixture
def motion_npz(motion_dir, tmp_path) -> Path:
    """A private copy of the synthetic two-hand motion (right track 0, left track 1)."""
    dst = tmp_path / "synthetic.motion.npz"
    shutil.copy(motion_dir / "synthetic.motion.npz", dst)
    return dst


@pytest.fixture
def motion_data(motion_npz):
    """The synthetic motion as the add-on reads it (MotionData)."""
    from blender_addon.core.motion_reader import read_motion

    return read_motion(motion_npz)


@pytest.fixture(scope="session")
def rigify_blend(tmp_path_factory) -> Path:
    """A .blend with Rigify's Human metarig ('metarig') and the rig Rigify generates from it
    ('rig'), made once per session by Blender itself in a child process (generation takes
    ~10 s; bpy 4.2 can crash at exit after it)."""
    path = tmp_path_factory.mktemp("rigify") / "rigify_human.blend"
    proc = subprocess.run([sys.executable, "-c", RIGIFY_SCRIPT, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert path.is_file(), proc.stdout[-2000:] + proc.stderr[-2000:]
    return path
