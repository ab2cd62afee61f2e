"""`handmocap track INPUT... --out DIR`: videos, image folders or images -> motion + exports."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app

DEFAULT_EXPORTS = "glb,obj,preview"


def _intrinsics(fx, fy, cx, cy, fov, calib):
    """Pick the camera source from the options (at most one kind may be given)."""
    from handmocap.errors import InputError

    given = [name for name, v in (("--fx", fx), ("--fov", fov), ("--calib", calib)) if v is not None]
    if len(given) > 1:
        raise InputError(None, f"give intrinsics one way only, got {' and '.join(given)}")
    if fx is not None:
        from handmocap.camera.intrinsics import Intrinsics

        if cx is None or cy is None:
            raise InputError(None, "--fx needs --cx and --cy (and optionally --fy)")
        return Intrinsics(fx=fx, fy=fy or fx, cx=cx, cy=cy, width=None, height=None)
    if calib is not None:
        return calib
    return fov


@app.command()
def track(
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image folders, images, or folders of videos.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("handmocap_out"),
    fx: Annotated[Optional[float], typer.Option(help="Focal length x (px).")] = None,
    fy: Annotated[Optional[float], typer.Option(help="Focal length y (px); default = fx.")] = None,
    cx: Annotated[Optional[float], typer.Option(help="Principal point x (px).")] = None,
    cy: Annotated[Optional[float], typer.Option(help="Principal point y (px).")] = None,
    fov: Annotated[Optional[float], typer.Option(help="Horizontal field of view (degrees).")] = None,
    calib: Annotated[Optional[Path], typer.Option(help="OpenCV calibration file (JSON/YAML), e.g. from `handmocap calibrate`.")] = None,
    hands: Annotated[str, typer.Option(help="both, left or right.")] = "both",
    export: Annotated[str, typer.Option("--export", "-e", help="Comma-separated: glb, obj, preview, fbx, npz.")] = DEFAULT_EXPORTS,
    hand_length: Annotated[Optional[float], typer.Option(help="Known hand length in cm (wrist to middle fingertip): fixes scale and depth.")] = None,
    smooth: Annotated[bool, typer.Option("--smooth/--no-smooth", help="Temporal One-Euro filtering.")] = True,
    min_cutoff: Annotated[float, typer.Option(help="Filter: minimum cut-off (Hz); lower = stiller.")] = 1.0,
    beta: Annotated[float, typer.Option(help="Filter: speed coefficient; higher = less lag.")] = 0.5,
    estimator: Annotated[str, typer.Option(help="model (learned, default) or fitting.")] = "model",
    refine: Annotated[bool, typer.Option("--refine", help="Refine the model's output by fitting.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Frames solved together.")] = 256,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Inputs processed in parallel (default: one per CPU core, at most one per input).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Redo inputs whose motion file exists.")] = False,
    max_frames: Annotated[Optional[int], typer.Option(help="Stop after this many frames per input.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Hand model: 'open', .npz, or MANO folder/pickle.")] = None,
) -> None:
    """Track hands in videos and write motion files, GLB, OBJ sequences and previews."""
    from handmocap.errors import InputError
    from handmocap.track.batch import run_batch
    from handmocap.track.pipeline import FilterOptions, TrackOptions

    if hands not in ("both", "left", "right"):
        raise InputError(None, f"--hands must be both, left or right, got {hands!r}")
    options = TrackOptions(
        intrinsics=_intrinsics(fx, fy, cx, cy, fov, calib), hands=hands,
        hand_length_m=None if hand_length is None else hand_length / 100.0,
        estimator=estimator, refine=refine, device=device, batch_size=batch_size,
        max_frames=max_frames, hand_model=model,
        smoothing=FilterOptions(enabled=smooth, min_cutoff=min_cutoff, beta=beta))
    exports = [e.strip() for e in export.split(",") if e.strip()]
    results = run_batch(inputs, out, options, exports, jobs=jobs, recursive=recursive,
                        overwrite=overwrite, echo=typer.echo)
    failed = [r for r in results if not r.ok]
    if failed:
        typer.secho(f"{len(failed)} of {len(results)} inputs failed", fg="red", err=True)
        raise typer.Exit(1)
