"""Batch tracking on a Ray cluster: each input is one Ray task running `process_input`.

    run_batch_ray(paths, out_dir, options, exports, address="local")

Same outputs, summary lines, resume and results as `run_batch`; the inputs and `out_dir`
must be on storage every node sees at the same path (checked before the first task).

Why outputs are staged: a worker can die at any moment (node lost, OOM, kill). Each task
writes into its own folder `out_dir/.handmocap-ray/RUN/INDEX/`, emptied at the start of
every attempt, and moves the files to their final names (motion file last, it marks the
input as done) only once the input succeeded. Ray re-runs a task whose worker died
(`max_retries` times); an input that fails for its own reasons returns its `InputResult`
and is never retried. The worker side lives in `ray_tasks`.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import signal
import socket
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterable

from ..errors import DependencyError, HandmocapError
from .pipeline import InputResult, TrackOptions, output_stem
from .ray_tasks import PROGRESS_INTERVAL_S, probe_node, progress_board_class, track_task

log = logging.getLogger(__name__)

STAGING = ".handmocap-ray"
DEFAULT_RETRIES = 2
LOCAL_OBJECT_STORE_BYTES = 256 * 2**20  # tasks exchange only small results


class RayClusterError(HandmocapError):
    """The cluster cannot be reached or cannot run the batch (storage, installation)."""


class BatchInterrupted(HandmocapError):
    """SIGINT/SIGTERM stopped a cluster batch; `exit_code` is 130 or 143."""

    def __init__(self, signum: int, done: int, partial: int, not_started: int):
        self.signum, self.exit_code = signum, 128 + signum
        super().__init__(f"interrupted: {done} done, {partial} partial removed, {not_started} not started; "
                         "run the same command again to resume")


def import_ray(address: str | None = None):
    """The `ray` module, or `DependencyError` with the install hint.

    Ray reads its authentication mode once, at import: give the address of the cluster to
    be joined on the first call so that a token on this machine is used (see below).
    """
    if address not in (None, "local") and "ray" not in sys.modules:
        _use_token_if_available()
    try:
        import ray
    except ImportError as exc:
        raise DependencyError("ray", "--ray (tracking on a Ray cluster)", extra="ray") from exc
    return ray


# --- connecting ------------------------------------------------------------------------

def _use_token_if_available() -> None:
    """Clusters started by `ray start` require their auth token, but a connecting driver
    only sends it in token mode: switch that on when the user has a token."""
    if "RAY_AUTH_MODE" in os.environ:
        return
    token_file = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", Path.home() / ".ray" / "auth_token"))
    if os.environ.get("RAY_AUTH_TOKEN") or token_file.is_file():
        os.environ["RAY_AUTH_MODE"] = "token"


@contextmanager
def connect(address: str, num_cpus: float | None = None, num_gpus: float | None = None):
    """Connect to the cluster at `address` for the duration of the block.

    address: "local" starts a private cluster on this machine (num_cpus/num_gpus size it;
        default: all of them) and stops it afterwards; "auto" attaches to the cluster
        RAY_ADDRESS or a `ray start` on this machine names; anything else is a cluster
        address (host:port, or ray://host:10001 for Ray Client).
    A connection that already exists in this process is reused and left open.
    """
    ray = import_ray(address)
    if ray.is_initialized():
        yield ray
        return
    kwargs = dict(logging_level=logging.WARNING, log_to_driver=log.isEnabledFor(logging.DEBUG),
                  configure_logging=True)
    if address == "local":
        kwargs.update(num_cpus=None if num_cpus is None else max(1, math.ceil(num_cpus)), num_gpus=num_gpus,
                      object_store_memory=LOCAL_OBJECT_STORE_BYTES, include_dashboard=False)
    # a private cluster gets token auth by default; Ray's notice about it is not for our users
    quiet = logging.getLogger("ray._private.authentication.authentication_token_setup")
    level = quiet.level
    quiet.setLevel(logging.ERROR if address == "local" else level)
    try:
        ray.init(address=address, **kwargs)
    except Exception as exc:  # ConnectionError, AuthenticationError, ValueError (bad address)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        if "auth" in reason.lower() or "token" in reason.lower():
            reason += " (set RAY_AUTH_TOKEN or copy the head node's ~/.ray/auth_token here)"
        raise RayClusterError(f"cannot connect to the Ray cluster at {address!r}: {reason}") from None
    finally:
        quiet.setLevel(level)
    try:
        with _ray_messages_to_log(ray):
            yield ray
    finally:
        ray.shutdown()


@contextmanager
def _ray_messages_to_log(ray):
    """Ray's driver prints the cluster's error messages (a worker died, a task will be
    retried) on stdout, between our summary lines; send them to the log instead: the
    runner reports worker losses in its own one line. (Ray has no switch for this.)"""
    module = getattr(getattr(ray, "_private", None), "worker", None)
    original = getattr(module, "print_to_stdstream", None)
    if original is None:
        yield
        return

    def to_log(data, ignore_prefix=False):
        for line in data.get("lines", []):
            log.debug("ray (%s): %s", data.get("pid"), line)

    module.print_to_stdstream = to_log
    try:
        yield
    finally:
        module.print_to_stdstream = original


# --- the driver ------------------------------------------------------------------------

def _check_cluster(ray, out_dir: Path, run_dir: Path, inputs: list[Path]) -> None:
    """One probe per alive node: it must write under out_dir, and this machine must see
    what it wrote (same storage at the same path); every input must exist there too."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    import handmocap

    nodes = [n for n in ray.nodes() if n.get("Alive")]
    probe = ray.remote(num_cpus=0, max_retries=1)(probe_node)
    refs = {probe.options(scheduling_strategy=NodeAffinitySchedulingStrategy(n["NodeID"], soft=False))
            .remote(str(out_dir), str(run_dir), [str(p.absolute()) for p in inputs]): n for n in nodes}
    try:
        replies = ray.get(list(refs), timeout=120)
    except ray.exceptions.GetTimeoutError:
        raise RayClusterError("the Ray cluster did not run a 0-CPU probe task within 120 s") from None
    except ray.exceptions.RayError as exc:
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        raise RayClusterError(f"a Ray worker cannot run handmocap ({type(cause).__name__}: "
                              f"{str(cause).splitlines()[0] if str(cause) else ''}): install "
                              "handmocap on every node, in the Python Ray runs") from None
    for node, reply in zip(refs.values(), replies):
        where = f"Ray node {node['NodeManagerAddress']} ({reply['host']})"
        if reply["error"]:
            raise RayClusterError(f"{out_dir}: {where} cannot write here ({reply['error']}); --out must be "
                                  "shared storage every worker can write")
        seen = Path(reply["file"])
        if not seen.is_file() or seen.read_text() != reply["token"]:
            raise RayClusterError(f"{out_dir}: a file {where} wrote here is not visible on this machine; --out "
                                  "must be shared storage mounted at the same path on every node")
        seen.unlink()
        if reply["missing"]:
            raise RayClusterError(f"{reply['missing'][0]}: not visible on {where}; inputs must be on shared "
                                  "storage mounted at the same path on every node")
        if reply["version"] != handmocap.__version__:
            log.warning("%s runs handmocap %s, this machine %s", where, reply["version"], handmocap.__version__)


def _check_resources(ray, address: str, cpus_per_task: float, gpus_per_task: float, warn) -> None:
    """A task needs its CPUs and GPUs on one node: say so now rather than wait forever.
    A private cluster cannot grow; a remote one may have an autoscaler, so only warn."""
    nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
    for name, asked in (("CPU", cpus_per_task), ("GPU", gpus_per_task)):
        most = max((r.get(name, 0.0) for r in nodes), default=0.0)
        if asked > most:
            option = f"--{name.lower()}s-per-task {asked:g}"
            if address == "local":
                raise RayClusterError(f"{option}: this machine offers Ray {most:g} {name}(s)")
            warn(f"{option}: no node of the cluster has that many {name}s now; the tasks wait for an "
                 "autoscaler to add one")


@contextmanager
def _signals_as_flag():
    """First SIGINT/SIGTERM: set the flag the loop polls (so cleanup runs in order);
    a second one exits at once."""
    caught: list[int] = []

    def handler(signum, frame):
        if caught:
            os._exit(128 + caught[0])
        caught.append(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _progress_bar():
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[running]} running, {task.fields[rate]} frames/s"),
                    TimeRemainingColumn(), transient=True)


def _stale_runs(staging_root: Path) -> None:
    """Remove staging folders of earlier runs on this host whose driver is gone."""
    for run in staging_root.glob("*/driver.json"):
        try:
            info = json.loads(run.read_text())
            if info["host"] != socket.gethostname():
                continue
            os.kill(info["pid"], 0)
        except ProcessLookupError:
            shutil.rmtree(run.parent, ignore_errors=True)
        except (OSError, ValueError, KeyError):
            continue


def run_batch_ray(paths: Iterable[Path], out_dir: Path, options: TrackOptions, exports: list[str],
                  address: str = "local", cpus_per_task: float = 1.0, gpus_per_task: float = 0.0,
                  max_in_flight: int | None = None, local_cpus: float | None = None,
                  max_retries: int = DEFAULT_RETRIES, recursive: bool = True, overwrite: bool = False,
                  echo: Callable[[str], None] = print, image_folders: str = "auto",
                  warn: Callable[[str], None] = print) -> list[InputResult]:
    """Process every input as a Ray task; returns one `InputResult` per input, in input order.

    Args:
        address: see `connect`.
        cpus_per_task, gpus_per_task: resources each input asks for (fractions allowed); with
            a GPU the learned model runs on it (device "cuda").
        max_in_flight: at most this many inputs submitted at once (None: all).
        local_cpus: size of the private cluster when address is "local".
        max_retries: re-runs of an input whose worker died (not of inputs that failed).
        echo: gets the one-line summary of each input (as `run_batch`); warn: retries.
        image_folders: how image folders are read, as in `run_batch`.

    Raises:
        DependencyError without ray; RayClusterError when the cluster cannot be used;
        BatchInterrupted after SIGINT/SIGTERM (tasks cancelled, partial outputs removed).
    """
    from ..motion import motion_paths
    from .batch import plan_batch, write_still_summaries

    import_ray(address)
    out_dir = Path(out_dir).absolute()
    items, results, todo = plan_batch(paths, recursive, echo, image_folders)
    if gpus_per_task > 0:
        options = dataclasses.replace(options, device="cuda")
    pending_todo = []
    for i, path, root in todo:  # resume: the same test process_input makes, without a task
        npz = motion_paths(output_stem(out_dir, path, root))[0]
        if npz.exists() and not overwrite:
            results[i] = InputResult(path, ok=True, skipped=True, outputs={"motion": [npz]})
            echo(results[i].summary())
        else:
            pending_todo.append((i, path, root))
    if not pending_todo:
        write_still_summaries(items, results, out_dir)
        return [results[i] for i in sorted(results)]
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RayClusterError(f"{out_dir}: cannot create the output folder ({exc.strerror or exc})") from None
    run_dir = out_dir / STAGING / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
    try:
        run_dir.mkdir(parents=True)
        (run_dir / "driver.json").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getpid()}))
    except OSError as exc:
        raise RayClusterError(f"{out_dir}: cannot write here ({exc.strerror or exc})") from None
    _stale_runs(out_dir / STAGING)
    try:
        with connect(address, num_cpus=local_cpus if address == "local" else None) as ray:
            _check_resources(ray, address, cpus_per_task, gpus_per_task, warn)
            _check_cluster(ray, out_dir, run_dir, sorted({root or path for _, path, root in pending_todo}))
            _run(ray, pending_todo, results, out_dir, run_dir, options, exports, cpus_per_task, gpus_per_task,
                 max_in_flight, max_retries, echo, warn)
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            (out_dir / STAGING).rmdir()  # only when no other run is using it
        except OSError:
            pass
    write_still_summaries(items, results, out_dir)
    return [results[i] for i in sorted(results)]


def _run(ray, todo, results, out_dir, run_dir, options, exports, cpus_per_task, gpus_per_task,
         max_in_flight, max_retries, echo, warn) -> None:
    """Submit, collect, report progress and retries; on a signal cancel and clean up."""
    board = ray.remote(num_cpus=0)(progress_board_class()).remote()
    snapshot = board.snapshot.remote()
    task = ray.remote(track_task).options(num_cpus=cpus_per_task, num_gpus=gpus_per_task or None,
                                          max_retries=max_retries, retry_exceptions=False)
    queue = list(todo)
    names = {i: path.name for i, path, _ in todo}
    running: dict = {}  # ObjectRef -> (index, path)
    attempts_seen: dict[int, int] = {}
    pids: dict[int, tuple[str, int]] = {}
    frames: dict[int, tuple[int, int]] = {}
    limit = max_in_flight or len(queue)
    t0 = time.perf_counter()
    with _signals_as_flag() as caught, _progress_bar() as bar:
        bar_task = bar.add_task("cluster", total=len(todo), running=0, rate="-")
        finished = 0
        while (queue or running) and not caught:
            while queue and len(running) < limit:
                i, path, root = queue.pop(0)
                ref = task.remote(i, str(path), None if root is None else str(root), os.getcwd(),
                                  str(out_dir), str(run_dir / str(i)), options, exports, board)
                running[ref] = (i, path)
            ready, _ = ray.wait(list(running), num_returns=1, timeout=PROGRESS_INTERVAL_S)
            for ref in ready:
                i, path = running.pop(ref)
                results[i] = _collect(ray, ref, path, max_retries)
                frames.pop(i, None)
                finished += 1
                echo(results[i].summary())
            attempts, frames_now = {}, {}
            if ray.wait([snapshot], timeout=0)[0]:  # one question to the board at a time
                try:
                    attempts, frames_now = ray.get(snapshot)
                except Exception as exc:  # the board is best effort: progress must not stop the batch
                    log.debug("progress board: %s", exc)
                snapshot = board.snapshot.remote()
            for i, tries in attempts.items():
                pids[i] = tries[-1]
                if len(tries) > attempts_seen.get(i, 1) and i not in results:
                    warn(f"{names[i]}: worker lost ({tries[-2][0]}, pid {tries[-2][1]}); retrying "
                         f"(attempt {len(tries)} of {max_retries + 1})")
                attempts_seen[i] = max(len(tries), attempts_seen.get(i, 1))
            frames.update({i: f for i, f in frames_now.items() if i not in results})
            done_frames = sum(r.frames for r in results.values()) + sum(d for d, _ in frames.values())
            partial = sum(d / t for d, t in frames.values() if t)
            bar.update(bar_task, completed=finished + partial, running=sum(1 for i in frames if i not in results),
                       rate=f"{done_frames / max(time.perf_counter() - t0, 1e-9):.1f}")
        if caught and (queue or running):
            started = {i for i, _ in running.values() if i in attempts_seen or (run_dir / str(i)).exists()}
            _cancel(ray, running, pids, run_dir)
            started |= {i for i, _ in running.values() if i in pids}
            raise BatchInterrupted(caught[0], done=finished, partial=len(started),
                                   not_started=len(queue) + len(running) - len(started))
    try:
        ray.kill(board)
    except Exception:
        pass


def _collect(ray, ref, path: Path, max_retries: int) -> InputResult:
    """The task's result, or a one-line failure when its worker died every time."""
    try:
        result = ray.get(ref)
        return dataclasses.replace(result, path=path)
    except ray.exceptions.RayTaskError as exc:  # a bug outside process_input's own handling
        cause = exc.cause if getattr(exc, "cause", None) is not None else exc
        return InputResult(path, ok=False, error=f"{path}: internal error: {type(cause).__name__}: {cause}"
                           .splitlines()[0])
    except ray.exceptions.RayError as exc:  # worker or node died on every attempt, OOM kill
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return InputResult(path, ok=False, error=f"{path}: the Ray worker died {max_retries + 1} times "
                           f"({type(exc).__name__}: {reason[:200]})")


def _cancel(ray, running: dict, pids: dict, run_dir: Path) -> None:
    """Cancel the running tasks (their workers are killed), wait until they are gone, and
    remove what they staged; the final output names were never touched."""
    for ref in running:
        try:
            ray.cancel(ref, force=True)
        except Exception:  # already finished, or the cluster went with the signal
            pass
    deadline = time.monotonic() + 10
    remaining = list(running)
    while remaining and time.monotonic() < deadline:
        try:
            _, remaining = ray.wait(remaining, num_returns=len(remaining), timeout=0.5)
        except Exception:
            break
    host = socket.gethostname()
    for i, _ in running.values():  # workers on this host: make sure none still writes
        h, pid = pids.get(i, (None, None))
        if h == host and pid:
            _wait_gone(pid)
        shutil.rmtree(run_dir / str(i), ignore_errors=True)


def _wait_gone(pid: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
