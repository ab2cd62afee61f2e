"""A real Ray head on 127.0.0.1 (2 CPUs, small object store) shared by the cluster tests.

Started with `ray start --head --block` as our own process group; at the end (also when a
test fails) the head and every process it started are stopped by their ids.
"""
from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is installed by `make test` (handmocap[ray])")

RAY = Path(sys.executable).with_name("ray")
HANDMOCAP = Path(sys.executable).with_name("handmocap")
START_TIMEOUT_S = 120


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (by parent id), found in /proc."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and " Z " not in Path(f"/proc/{pid}/stat").read_text()[:200]


def _stop(head: subprocess.Popen) -> None:
    """SIGTERM the head (it stops what it started), then SIGKILL whatever of its tree is left."""
    tree = _descendants(head.pid)
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=20)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    for p in tree:
        if _alive(p):
            os.kill(p, signal.SIGKILL)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """{"address": "127.0.0.1:PORT", "env": environment for drivers} of a running head."""
    tmp = tmp_path_factory.mktemp("ray_head")
    token = tmp / "auth_token"  # this cluster's own token, not the user's ~/.ray one
    token.write_text(secrets.token_hex(32))
    gcs, agent, agent_grpc, runtime_env, metrics, node_mgr, obj_mgr = _free_ports(7)
    env = dict(os.environ, RAY_AUTH_TOKEN_PATH=str(token), RAY_USAGE_STATS_ENABLED="0")
    env.pop("RAY_ADDRESS", None)
    log = open(tmp / "head.log", "w")
    head = subprocess.Popen(
        [str(RAY), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(gcs),
         "--num-cpus", "2", "--num-gpus", "0", "--object-store-memory", str(200 * 10**6),
         "--include-dashboard", "false", "--disable-usage-stats",
         "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
         "--runtime-env-agent-port", str(runtime_env), "--metrics-export-port", str(metrics),
         "--node-manager-port", str(node_mgr), "--object-manager-port", str(obj_mgr)],
        stdout=log, stderr=subprocess.STDOUT, env=dict(env, RAY_AUTH_MODE="token"), start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while "Ray runtime started" not in (tmp / "head.log").read_text():
            if head.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"ray head did not start:\n{(tmp / 'head.log').read_text()[-3000:]}")
            time.sleep(0.3)
        yield {"address": f"127.0.0.1:{gcs}", "env": env}
    finally:
        _stop(head)
        log.close()


def run_track(args, env, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """`handmocap track ARGS` as users run it."""
    return subprocess.run([str(HANDMOCAP), "track", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=timeout, **kwargs)


def task_workers(cwd: Path | None = None) -> list[int]:
    """PIDs of Ray workers running our task right now (Ray titles them ray::<function>); with
    `cwd`, only those of the driver started there (tasks run in the driver's folder)."""
    pids = []
    for cmd in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if cmd.read_bytes().startswith(b"ray::track_task") and (
                    cwd is None or Path(os.readlink(cmd.parent / "cwd")) == Path(cwd)):
                pids.append(int(cmd.parent.name))
        except OSError:
            continue
    return pids
