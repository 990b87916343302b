"""Benchmark OG-Net: graph-op backends side by side, and forward latency of each variant.

    python benchmarks/bench_model.py [--repeats 7] [--batches 1 36] [--threads 2]

Prints two tables (medians after warm-up): graph operations (FPS 4096 -> 768, knn_graph with
k = 20 on 4096 points) for every installed backend, and the eval-mode forward latency of each
variant at each batch size with the time split between graph ops (FPS, knn) and the dense
layers. The figures in BENCHMARKS.md come from this script.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from contextlib import contextmanager

import torch

from ognet import create_model, list_models, ops


def median_ms(fn, repeats: int, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


@contextmanager
def graph_op_timer():
    """Accumulate wall time spent inside ops.farthest_point_sample and ops.knn."""
    spent = {"s": 0.0}
    originals = {name: getattr(ops, name) for name in ("farthest_point_sample", "knn")}

    def timed(fn):
        def wrapper(*args, **kwargs):
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent["s"] += time.perf_counter() - t0
        return wrapper

    for name, fn in originals.items():
        setattr(ops, name, timed(fn))
    try:
        yield spent
    finally:
        for name, fn in originals.items():
            setattr(ops, name, fn)


def bench_graph_ops(batches, repeats, device):
    rows = []
    backends = ops.available_backends()
    for b in batches:
        xyz = torch.randn(b, 4096, 3, device=device)
        for backend in ("torch", "cluster", "open3d"):
            if backends[backend] and not (backend == "open3d" and device.type != "cpu"):
                ms = median_ms(lambda xyz=xyz, backend=backend: ops.farthest_point_sample(
                    xyz, 768, backend=backend),
                               repeats if b == 1 else max(3, repeats // 2))
                rows.append(("fps 4096->768", b, backend, ms))
        for backend in ("torch", "cluster", "scipy"):
            if backends[backend] and not (backend == "scipy" and device.type != "cpu"):
                ms = median_ms(lambda xyz=xyz, backend=backend: ops.knn_graph(
                    xyz, 20, backend=backend),
                               repeats if b == 1 else max(3, repeats // 2))
                rows.append(("knn_graph k=20, 4096", b, backend, ms))
    print(f"\nGraph operations ({device.type}), median ms")
    print(f"{'operation':<24}{'batch':>6}  {'backend':<9}{'ms':>10}")
    for op, b, backend, ms in rows:
        print(f"{op:<24}{b:>6}  {backend:<9}{ms:>10.1f}")


def bench_forward(batches, repeats, device):
    print(f"\nForward latency, eval mode ({device.type}), median ms")
    print(f"{'variant':<13}{'batch':>6}{'total':>10}{'graph ops':>11}{'dense':>9}{'ms/cloud':>10}")
    for name in list_models():
        model = create_model(name).eval().to(device)
        for b in batches:
            x = torch.cat([torch.randn(b, 4096, 3), torch.rand(b, 4096, 3)], -1).to(device)
            n = repeats if b == 1 else max(3, repeats // 2)
            with torch.no_grad():
                model(x)  # warm-up
                totals, graph = [], []
                for _ in range(n):
                    with graph_op_timer() as spent:
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        t0 = time.perf_counter()
                        model(x)
                        if device.type == "cuda":
                            torch.cuda.synchronize()
                        totals.append(time.perf_counter() - t0)
                    graph.append(spent["s"])
            total = 1000 * statistics.median(totals)
            g = 1000 * statistics.median(graph)
            print(f"{name:<13}{b:>6}{total:>10.1f}{g:>11.1f}{total - g:>9.1f}{total / b:>10.1f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 36])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"torch {torch.__version__}, backends {ops.available_backends()}")
    bench_graph_ops(args.batches, args.repeats, device)
    bench_forward(args.batches, args.repeats, device)


if __name__ == "__main__":
    main()
