"""`handmocap pose NAME --out FILE`: pose the hand model and write a mesh (OBJ/PLY/GLB/STL)."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app


@app.command()
def pose(
    name: Annotated[str, typer.Argument(help="Named pose (see --list), or 'flat'.")] = "open",
    out: Annotated[Path, typer.Option("--out", "-o", help="Mesh file to write (.obj, .ply, .glb, .stl).")] = Path("hand.obj"),
    side: Annotated[str, typer.Option(help="right or left")] = "right",
    model: Annotated[str, typer.Option(help="Hand model: 'open', a .npz, or MANO pickle/folder.")] = None,
    list_poses: Annotated[bool, typer.Option("--list", help="List the named poses and exit.")] = False,
) -> None:
    """Pose the hand model and write the mesh: a quick check that the model works."""
    from handmocap.hand.poses import named_pose_names
    from handmocap.export.mesh import pose_mesh

    if list_poses:
        typer.echo("\n".join(named_pose_names()))
        return
    path = pose_mesh(name, out, side=side, model=model)
    typer.echo(f"wrote {path}")
