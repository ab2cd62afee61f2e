"""`handmocap info MOTION`: what a motion file holds."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from .app import app


@app.command()
def info(motion: Annotated[Path, typer.Argument(help="A .motion.npz file (or its stem).")]) -> None:
    """Summarise a motion file: source, camera, tracks, frames, quality."""
    from handmocap.motion import load_motion

    m = load_motion(motion)
    K = m.camera.matrix
    typer.echo(f"source     {m.source}")
    typer.echo(f"schema     v{m.version}, estimator {m.estimator}, hand model {m.hand_model_id}")
    typer.echo(f"video      {m.image_size[0]}x{m.image_size[1]}, {m.fps:.3f} fps, {m.num_frames} frames")
    typer.echo(f"camera     {m.camera.model} ({m.camera.source}): fx={K[0, 0]:.1f} fy={K[1, 1]:.1f} "
               f"cx={K[0, 2]:.1f} cy={K[1, 2]:.1f}")
    for t in m.tracks:
        if len(t) == 0:
            typer.echo(f"track {t.track_id}    {t.side}: empty")
            continue
        det = t.detected.astype(bool)
        depth = t.keypoints_cam[:, 0, 2]
        typer.echo(
            f"track {t.track_id}    {t.side}: frames {t.frame_index[0]}-{t.frame_index[-1]} ({len(t)}), "
            f"detected {det.mean() * 100:.0f}%, depth {np.median(depth):.2f} m "
            f"[{depth.min():.2f}, {depth.max():.2f}], reprojection {np.mean(t.reprojection_px[det]) if det.any() else float('nan'):.1f} px")
