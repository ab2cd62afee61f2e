"""Forward-pass throughput of the hand-model layer (hands/s) for several batch sizes,
on CPU and on the GPU when one is present. Prints a markdown table.

    python -m bench.hand_layer [--batches 1 64 1024] [--repeats 5]
"""
from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from handmocap.hand import HandModel


def throughput(model: HandModel, batch: int, device: torch.device, dtype: torch.dtype,
               repeats: int, backward: bool = False) -> list[float]:
    """Hands per second over `repeats` timed runs (after one warm-up)."""
    g = torch.Generator().manual_seed(0)
    params = [torch.randn(batch, n, generator=g).to(device, dtype) * 0.3 for n in (3, 45, 10, 3)]
    if backward:
        for p in params:
            p.requires_grad_(True)
    rates = []
    for i in range(repeats + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = model(*params)
        if backward:
            out.vertices.sum().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i:
            rates.append(batch / (time.perf_counter() - t0))
    return rates


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--batches", type=int, nargs="+", default=[1, 64, 1024])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args(argv)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    print(f"# hand layer throughput  (torch {torch.__version__}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads)\n")
    print("| device | dtype | batch | forward hands/s (median [min, max]) | forward+backward hands/s |")
    print("|---|---|---:|---:|---:|")
    for device in devices:
        for dtype in (torch.float32,) + ((torch.bfloat16,) if device.type == "cuda" else ()):
            model = HandModel(dtype=dtype).to(device)
            name = torch.cuda.get_device_name() if device.type == "cuda" else "cpu"
            for b in args.batches:
                f = throughput(model, b, device, dtype, args.repeats)
                fb = throughput(model, b, device, dtype, args.repeats, backward=True)
                print(f"| {name} | {str(dtype)[6:]} | {b} | {statistics.median(f):,.0f} [{min(f):,.0f}, {max(f):,.0f}] "
                      f"| {statistics.median(fb):,.0f} |")


if __name__ == "__main__":
    main()
