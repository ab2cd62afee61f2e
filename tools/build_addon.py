"""Build the Blender extension zip: `python tools/build_addon.py [--out dist/handmocap_blender.zip]`.

Packs blender_addon/ (no caches) and adds core/data/hand_rig.npz: the arrays of the bundled
open hand that the add-on needs (v_template, shapedirs, J_regressor, weights, f,
kintree_table, fingertip ids; CC0 licence text), copied from handmocap/hand/data/open_hand.npz.
The zip installs with Blender 4.2+ (Edit > Preferences > Get Extensions > Install from Disk)
or `blender --command extension install-file -r user_default dist/handmocap_blender.zip`.
"""
from __future__ import annotations

import argparse
import io
import os
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
ADDON = ROOT / "blender_addon"
ASSET = ROOT / "handmocap" / "hand" / "data" / "open_hand.npz"
KEEP = ("v_template", "shapedirs", "J_regressor", "weights", "f", "kintree_table",
        "fingertip_vertex_ids", "license")
DEFAULT_OUT = ROOT / "dist" / "handmocap_blender.zip"


def rig_arrays_bytes(asset: Path = ASSET) -> bytes:
    """The add-on's hand_rig.npz contents: only the arrays it reads (float32 where lossless
    enough would change the model id, so arrays keep their dtype)."""
    with np.load(asset, allow_pickle=False) as z:
        arrays = {k: z[k] for k in KEEP if k in z.files}
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def build(out: Path = DEFAULT_OUT) -> Path:
    """Write the extension zip atomically and return its path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(ADDON.rglob("*")):
            rel = path.relative_to(ADDON)
            if path.is_dir() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".blend1") \
                    or rel.as_posix() == "core/data/hand_rig.npz":
                continue
            zf.write(path, rel.as_posix())
        zf.writestr("core/data/hand_rig.npz", rig_arrays_bytes())
    os.replace(tmp, out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    print(build(ap.parse_args().out))


if __name__ == "__main__":
    main()
