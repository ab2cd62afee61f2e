"""`handmocap train keypoints|image --config FILE`: train a learned model (thin wrapper over
`training.train`, which needs a source checkout: the training package is not installed)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

from .app import app


@app.command()
def train(
    kind: Annotated[str, typer.Argument(help="keypoints or image.")],
    config: Annotated[Optional[Path], typer.Option("--config", "-c", help="YAML/JSON config (training/configs/).")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out-dir", help="Run folder (checkpoints, log.csv).")] = None,
    resume: Annotated[bool, typer.Option("--resume/--no-resume", help="Continue from out_dir/last.pt.")] = True,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many steps (this call).")] = None,
    export: Annotated[Optional[Path], typer.Option(help="Afterwards, write shipped float16 weights here.")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
) -> None:
    """Train the keypoint model (CPU) or the image model (GPU) with resumable checkpoints."""
    from handmocap.errors import InputError

    if kind not in ("keypoints", "image"):
        raise InputError(None, f"model kind must be keypoints or image, got {kind!r}")
    import sys

    # training/ is not installed: it sits beside cli/ in the source checkout (editable install)
    checkout = Path(__file__).resolve().parents[1]
    if (checkout / "training" / "train.py").exists() and str(checkout) not in sys.path:
        sys.path.insert(0, str(checkout))
    try:
        from training.train import export_weights
        from training.train import train as run
    except ImportError as exc:
        raise InputError(None, f"the training package is not importable ({exc}); "
                               "run `handmocap train` from a source checkout of handmocap") from None
    summary = run(kind, config, {"out_dir": str(out_dir)} if out_dir else None, resume=resume,
                  progress=progress, max_steps=max_steps)
    typer.echo(json.dumps(summary, indent=2, default=str))
    if export is not None:
        typer.echo(f"weights: {export_weights(summary['checkpoint'], export)}")
