"""`handmocap track ... --ray ADDRESS`: the same batch as Ray tasks (see handmocap/track/ray_runner.py).

Kept apart from track.py so the local runner's command stays as it is; exit codes follow
the local batch: 1 when an input failed, 2 for a usage problem (ray missing, bad
resources), 130/143 after Ctrl-C/SIGTERM.
"""
from __future__ import annotations

import typer

RAY_OPTIONS = ("cpus_per_task", "gpus_per_task")


def _given(ctx: typer.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name != "DEFAULT"


def _usage_error(message: str) -> typer.Exit:
    typer.secho(f"error: {message}", fg="red", err=True)
    return typer.Exit(2)


def check_ray_options(ctx: typer.Context, address: str | None) -> None:
    """--cpus-per-task/--gpus-per-task mean nothing without --ray: say so, do nothing."""
    if address is None:
        given = [f"--{n.replace('_', '-')}" for n in RAY_OPTIONS if _given(ctx, n)]
        if given:
            raise _usage_error(f"{given[0]} needs --ray (local, auto or a cluster address)")


def run_on_ray(ctx: typer.Context, address: str, inputs, out, options, exports, jobs: int,
               cpus_per_task: float, gpus_per_task: float, recursive: bool, overwrite: bool,
               image_folders: str = "auto"):
    """Run the batch on the cluster; returns the `InputResult`s like `run_batch`."""
    from handmocap.errors import DependencyError
    from handmocap.track import ray_runner

    try:
        ray_runner.import_ray(address)
    except DependencyError as exc:
        raise _usage_error(str(exc)) from None
    if not address.strip():
        raise _usage_error("--ray needs 'local', 'auto' or a cluster address (host:port, ray://host:10001)")
    if cpus_per_task <= 0 or gpus_per_task < 0:
        raise _usage_error(f"--cpus-per-task must be > 0 and --gpus-per-task >= 0, got {cpus_per_task} and "
                           f"{gpus_per_task}")
    if _given(ctx, "device") and options.device != "cpu" and gpus_per_task == 0:
        raise _usage_error("on a Ray cluster the model runs on a GPU only with --gpus-per-task (e.g. 1 or 0.5)")
    # -j N: at most N inputs in flight; with --ray local it also sizes the private cluster
    jobs_given = _given(ctx, "jobs") and jobs >= 1
    try:
        return ray_runner.run_batch_ray(
            inputs, out, options, exports, address=address, cpus_per_task=cpus_per_task,
            gpus_per_task=gpus_per_task, max_in_flight=jobs if jobs_given else None,
            local_cpus=jobs * cpus_per_task if jobs_given else None, recursive=recursive, overwrite=overwrite,
            image_folders=image_folders,
            echo=typer.echo, warn=lambda line: typer.secho(line, fg="yellow", err=True))
    except ray_runner.BatchInterrupted as exc:
        typer.secho(str(exc), fg="red", err=True)
        raise typer.Exit(exc.exit_code) from None
