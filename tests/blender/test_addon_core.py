"""The add-on's bpy-free core: bone-map detection, dependency order, the tracker's command
line and its progress lines. numpy + json only (runs with either bpy environment)."""
from __future__ import annotations

import json
import os
import stat

import pytest

from blender_addon.core.retarget import BoneMapError, dependency_levels, describe_match, detect_preset, \
    load_bone_map, match_presets
from blender_addon.core.tracking import TrackerNotFound, TrackOptions, find_tracker, parse_event, track_command


def rig_bones(preset: str, drop=()) -> set:
    names = {b for side in ("right", "left") for b in load_bone_map(preset, side).values()}
    return (names | {"root", "spine", "MCH-helper"}) - set(drop)


@pytest.mark.parametrize("preset", ["rigify_metarig", "rigify", "mixamo", "ue5_mannequin", "mpfb"])
def test_each_preset_is_detected_on_its_own_names(preset):
    best = match_presets(rig_bones(preset))[0]
    assert (best.preset, best.matched, best.total, best.sides, best.missing) == (preset, 32, 32, ("right", "left"), ())


def test_metarig_and_generated_rig_are_told_apart():
    generated = rig_bones("rigify") | {"ORG-hand.R", "ORG-hand.L"}  # no plain hand.R in a generated rig
    ranked = match_presets(generated)
    assert ranked[0].preset == "rigify" and ranked[1].preset == "rigify_metarig"
    assert ranked[1].missing == ("hand.R", "hand.L")


def test_missing_bones_are_listed_and_a_partial_rig_fits_one_side():
    bones = rig_bones("mixamo", drop=["mixamorig:LeftHandPinky3", "mixamorig:LeftHandThumb1"])
    best = detect_preset(bones, "right")
    assert best.preset == "mixamo" and best.sides == ("right",)
    assert describe_match(best) == ("mixamo: 30 of 32 mapped bones (right hand); missing: "
                                    "mixamorig:LeftHandPinky3, mixamorig:LeftHandThumb1")
    with pytest.raises(BoneMapError, match="no preset fits this rig \\(left hand\\); closest: mixamo: 30 of 32"):
        detect_preset(bones, "left")
    many = describe_match(match_presets({"Bone", "Bone.001"})[0])
    assert many.endswith("more)") and "0 of 32" in many


def test_dependency_levels_follow_the_hierarchy_through_helpers():
    parents = {"hand": None, "f1": "hand", "MCH-drv2": "f1", "f2": "MCH-drv2", "MCH-drv3": "f2",
               "f3": "MCH-drv3", "t1": "hand", "t2": "t1"}
    assert dependency_levels(["f3", "t2", "f1", "f2", "t1"], parents) == [["f1", "t1"], ["f2", "t2"], ["f3"]]
    assert dependency_levels([], parents) == []


def test_track_command_carries_the_panel_options():
    opts = TrackOptions(hands="right", fx=800.0, cx=320.0, cy=240.0, max_frames=10, smooth=False)
    cmd = track_command("/bin/handmocap", "a.mp4", "out", opts)
    assert cmd[:3] == ["/bin/handmocap", "track", "a.mp4"] and "--progress-json" in cmd
    joined = " ".join(cmd)
    assert "--fx 800.0 --fy 800.0 --cx 320.0 --cy 240.0" in joined and "--max-frames 10" in joined
    assert "--hands right" in joined and "--no-smooth" in joined and "--fov" not in joined
    calib = track_command("h", "a.mp4", "o", TrackOptions(calib="c.json", fov=50.0))
    assert "--calib" in calib and "--fov" not in calib
    assert "--fov 50.0" in " ".join(track_command("h", "a.mp4", "o", TrackOptions(fov=50.0)))


def test_progress_lines_are_parsed_and_other_output_ignored():
    line = json.dumps({"event": "progress", "input": "a.mp4", "done": 3, "total": 60})
    assert parse_event(line + "\n")["done"] == 3
    for other in ("a.mp4: 6 frames, hands found on 100%", "{not json", "[1, 2]", '{"no": "event"}', ""):
        assert parse_event(other) is None


def test_find_tracker(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TrackerNotFound, match="handmocap is not installed"):
        find_tracker()
    exe = tmp_path / "handmocap"
    exe.write_text("#!/bin/sh\n")
    with pytest.raises(TrackerNotFound, match="not an executable"):
        find_tracker(str(exe))
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    assert find_tracker(str(exe)) == str(exe) and find_tracker() == str(exe)
    assert os.access(find_tracker(), os.X_OK)
