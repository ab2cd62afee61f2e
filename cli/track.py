"""`handmocap track INPUT... --out DIR`: videos, image folders or images -> motion + exports.
Photos (single images, photo folders) are stills: see `handmocap.track.stills`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from handmocap.track.filters import NOISE_FLOOR_SCALE

from .app import app

# the motion file is always written; OBJ sequences (one file a frame: gigabytes for long
# clips) and FBX (needs bpy) on request
DEFAULT_EXPORTS = "glb,preview"


def _json_line(**fields) -> None:
    import json

    typer.echo(json.dumps(fields), nl=True)


def _json_progress(path, done: int, total: int) -> None:
    """One line a frame is too many for long videos: every 1% (and the first frame)."""
    if done == 1 or not total or done == total or done % max(1, total // 100) == 0:
        _json_line(event="progress", input=str(path), done=int(done), total=int(total or 0))


@app.command()
def track(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="Videos, image folders, images, or folders of videos.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("handmocap_out"),
    fx: Annotated[Optional[float], typer.Option(help="Focal length x (px).")] = None,
    fy: Annotated[Optional[float], typer.Option(help="Focal length y (px); default = fx.")] = None,
    cx: Annotated[Optional[float], typer.Option(help="Principal point x (px).")] = None,
    cy: Annotated[Optional[float], typer.Option(help="Principal point y (px).")] = None,
    fov: Annotated[Optional[float], typer.Option(help="Horizontal field of view (degrees).")] = None,
    calib: Annotated[Optional[Path], typer.Option(help="OpenCV calibration file (JSON/YAML), e.g. from `handmocap calibrate`.")] = None,
    hands: Annotated[str, typer.Option(help="both, left or right.")] = "both",
    export: Annotated[str, typer.Option("--export", "-e", help="Comma-separated, besides the motion file: glb, preview, obj (one file a frame), fbx (needs bpy), npz; '' for none.")] = DEFAULT_EXPORTS,
    hand_length: Annotated[Optional[float], typer.Option(help="Known hand length in cm (wrist to middle fingertip): fixes scale and depth.")] = None,
    smooth: Annotated[bool, typer.Option("--smooth/--no-smooth", help="Temporal One-Euro filtering.")] = True,
    min_cutoff: Annotated[float, typer.Option(help="Filter: minimum cut-off (Hz); lower = stiller.")] = 1.0,
    beta: Annotated[float, typer.Option(help="Filter: speed coefficient; higher = less lag.")] = 0.5,
    noise_floor: Annotated[float, typer.Option(help="Filter: speed counts above this times each signal's own noise level; higher = stiller noisy tracks, more lag in fast motion; 0 = plain One-Euro.")] = NOISE_FLOOR_SCALE,
    estimator: Annotated[str, typer.Option(help="model (learned, default) or fitting.")] = "model",
    refine: Annotated[bool, typer.Option("--refine", help="Refine the model's output by fitting.")] = False,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Frames solved together.")] = 256,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Inputs processed in parallel (default: one per CPU core, at most one per input).")] = None,
    recursive: Annotated[bool, typer.Option("--recursive/--no-recursive", help="Descend into sub-folders.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Redo inputs whose motion file exists.")] = False,
    max_frames: Annotated[Optional[int], typer.Option(help="Stop after this many frames per input.")] = None,
    model: Annotated[Optional[str], typer.Option(help="Hand model: 'open', .npz, or MANO folder/pickle.")] = None,
    stream: Annotated[Optional[int], typer.Option(help="Video stream to track (N of ffprobe's 'Stream #0:N'); default: the one ffmpeg picks (highest resolution).")] = None,
    stills: Annotated[bool, typer.Option("--stills", help="Image folders are photos: each image tracked on its own.")] = False,
    sequence: Annotated[bool, typer.Option("--sequence", help="Image folders are image sequences: tracked as videos.")] = False,
    still_views: Annotated[bool, typer.Option("--still-views/--no-still-views", help="Photos: MediaPipe takes a second look at each hand it finds, where the plain image shows no hand it also looks at padded, mirrored, turned and zoomed views, and a classifier decides left/right; --no-still-views: one look and MediaPipe's label.")] = True,
    camera_files: Annotated[bool, typer.Option("--camera-files/--no-camera-files", help="Without intrinsics options: use NAME.calib.json beside an input, then a photo's EXIF focal length.")] = True,
    ray: Annotated[Optional[str], typer.Option("--ray", help="Run each input as a task on a Ray cluster: 'local' (a private one for this run), 'auto' (the one RAY_ADDRESS or `ray start` names) or an address. Needs handmocap[ray].")] = None,
    cpus_per_task: Annotated[float, typer.Option(help="With --ray: CPUs each input asks for.")] = 1.0,
    gpus_per_task: Annotated[float, typer.Option(help="With --ray: GPUs each input asks for (0.5 = two per GPU); the model then runs on the GPU.")] = 0.0,
    progress_json: Annotated[bool, typer.Option("--progress-json", help="Also print progress and results as JSON lines (for the Blender add-on).")] = False,
) -> None:
    """Track hands in videos and write motion files, GLB and previews (OBJ, FBX on request).

    Every option is checked before the first input is opened (exit 2). Ctrl-C stops the
    batch, removes the partial outputs of the inputs in progress and exits 130; running
    the same command again resumes (inputs with a motion file are skipped).
    """
    from handmocap.track.batch import run_batch
    from handmocap.track.checks import check_request, intrinsics_from_options, parse_exports
    from handmocap.errors import OptionError
    from handmocap.track.pipeline import FilterOptions, TrackOptions

    if stills and sequence:
        raise OptionError("--stills", "give --stills or --sequence, not both")
    options = TrackOptions(
        intrinsics=intrinsics_from_options(fx, fy, cx, cy, fov, calib), hands=hands,
        hand_length_m=None if hand_length is None else hand_length / 100.0,
        estimator=estimator, refine=refine, device=device, batch_size=batch_size,
        max_frames=max_frames, hand_model=model, stream=stream, camera_files=camera_files,
        still_views=still_views, smoothing=FilterOptions(enabled=smooth, min_cutoff=min_cutoff, beta=beta,
                                                                 noise_floor_scale=noise_floor))
    exports = parse_exports(export)
    from .track_ray import check_ray_options, run_on_ray

    check_ray_options(ctx, ray)
    check_request(options, exports, out, jobs=jobs)
    image_folders = "stills" if stills else "sequence" if sequence else "auto"
    if ray is not None:
        results = run_on_ray(ctx, ray, inputs, out, options, exports, jobs, cpus_per_task, gpus_per_task,
                             recursive, overwrite, image_folders)
    else:
        results = run_batch(inputs, out, options, exports, jobs=jobs, recursive=recursive,
                            overwrite=overwrite, echo=typer.echo, image_folders=image_folders,
                            on_progress=_json_progress if progress_json else None)
    if progress_json:
        for r in results:
            motion = (r.outputs or {}).get("motion") or [None]
            _json_line(event="result", input=str(r.path), ok=r.ok, error=r.error,
                       motion=str(motion[0]) if motion[0] else None)
    failed = [r for r in results if not r.ok]
    if failed:
        typer.secho(f"{len(failed)} of {len(results)} inputs failed", fg="red", err=True)
        raise typer.Exit(1)
