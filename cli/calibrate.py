"""`handmocap calibrate SOURCE --out FILE`: checkerboard video or image folder -> intrinsics."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app


@app.command()
def calibrate(
    source: Annotated[Path, typer.Argument(help="Checkerboard video or folder of images.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Calibration file to write (.json or .yaml).")] = Path("camera.json"),
    cols: Annotated[int, typer.Option(help="Inner corners per row of the board.")] = 9,
    rows: Annotated[int, typer.Option(help="Inner corners per column of the board.")] = 6,
    square: Annotated[float, typer.Option(help="Square size in metres.")] = 0.025,
    max_views: Annotated[int, typer.Option(help="At most this many board views are used.")] = 40,
) -> None:
    """Estimate camera intrinsics from a checkerboard (OpenCV); pass the file to `track --calib`."""
    from handmocap.camera.calibrate import calibrate as run

    result = run(source, pattern=(cols, rows), square_size_m=square, max_views=max_views)
    result.save(out)
    k = result.intrinsics
    typer.echo(f"wrote {out}: fx={k.fx:.1f} fy={k.fy:.1f} cx={k.cx:.1f} cy={k.cy:.1f} "
               f"({k.width}x{k.height}), reprojection error {result.reprojection_error_px:.3f} px "
               f"over {result.frames_used} views")
