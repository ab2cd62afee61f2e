"""How many inputs of a batch to process at once when the user does not say (`-j`).

One process per usable CPU core (the detector keeps one core busy; each process's decode
read-ahead, preview encoder and exports fill the gaps), never more processes than inputs,
and never more than the memory allows (`MEMORY_PER_JOB_BYTES` each, the peak RSS measured
by `python -m bench` with headroom). `python -m bench` shows folder throughput at -j 1 and
-j 2.
"""
from __future__ import annotations

import os

MEMORY_PER_JOB_BYTES = 2 << 30  # measured peak ~1.3 GB per process (bench/memory.py), plus headroom


def usable_cpus() -> int:
    """CPU cores this process may run on (its affinity mask; all of them where unknown)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def available_memory_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), None elsewhere."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def default_jobs(num_inputs: int, cpus: int | None = None, memory_bytes: int | None = None) -> int:
    """Processes to run a batch of `num_inputs` with: min(inputs, cores, memory / per job), >= 1."""
    cpus = usable_cpus() if cpus is None else cpus
    memory_bytes = available_memory_bytes() if memory_bytes is None else memory_bytes
    by_memory = cpus if memory_bytes is None else memory_bytes // MEMORY_PER_JOB_BYTES
    return int(max(1, min(num_inputs, cpus, by_memory)))
