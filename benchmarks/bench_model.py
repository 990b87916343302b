"""Benchmark OG-Net: graph-op backends side by side, and forward latency of each variant.

    python benchmarks/bench_model.py [--repeats 7] [--batches 1 36] [--threads 2]

Prints three tables (medians after warm-up): graph operations (FPS 4096 -> 768, knn_graph
with k = 20 on 4096 points) for every installed backend; the multi-scale ball query
(0.1 / 0.2 / 0.4 m capped at 8 / 16 / 32) at the sizes of the first two modules on a real
lifted crop (``assets/examples``) for every backend; and the eval-mode forward latency of
each variant at each batch size, with the time spent inside graph ops (FPS, knn, ball query;
on the CPU on background threads beside the dense layers) and OG-Net-Small with its graph
work planned inline and with nearest-r groups side by side. The figures in BENCHMARKS.md come
from this script.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from contextlib import contextmanager, nullcontext

import torch

from ognet import create_model, list_models, ops
from ognet.models import ognet as ognet_model


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
    """Accumulate wall time spent inside ops.farthest_point_sample, ops.knn and
    ops.multi_scale_ball_query."""
    spent = {"s": 0.0}
    originals = {name: getattr(ops, name)
                 for name in ("farthest_point_sample", "knn", "multi_scale_ball_query")}

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


def lifted_example() -> torch.Tensor:
    """(1, 4096, 6) the first example crop, lifted and strided as the app does."""
    from pathlib import Path

    from ognet.lift import lift_image
    from ognet.pointcloud import sample_points

    example = sorted((Path(__file__).resolve().parent.parent / "assets" / "examples")
                     .glob("*.jpg"))[0]
    return torch.from_numpy(sample_points(lift_image(example).points, 4096)).unsqueeze(0)


def bench_ball_query(cloud, repeats, device):
    xyz = cloud[..., :3].contiguous().to(device)
    radii, sizes = (0.1, 0.2, 0.4), (8, 16, 32)
    centres1 = ops.gather_points(xyz, ops.farthest_point_sample(xyz, 768))
    centres2 = ops.gather_points(centres1, ops.farthest_point_sample(centres1, 384))
    big = ((centres1[0, :, None] - xyz[0, None]).norm(dim=-1) <= 0.4).sum(1).float()
    print(f"\nBall query, 3 scales ({device.type}), median ms; lifted crop: a 0.4 m ball "
          f"around a module-1 centre holds {big.median():.0f} points (median)")
    print(f"{'size':<22}{'backend':<9}{'ms':>10}")
    backends = ops.available_backends()
    for label, query, support in (("768 x 4096 (module 1)", centres1, xyz),
                                  ("384 x 768 (module 2)", centres2, centres1)):
        for backend in ("torch", "open3d", "scipy"):
            if backends[backend] and (backend == "torch" or device.type == "cpu"):
                ms = median_ms(lambda q=query, s=support, b=backend: ops.multi_scale_ball_query(
                    q, s, radii, sizes, backend=b), repeats)
                print(f"{label:<22}{backend:<9}{ms:>10.1f}")


@contextmanager
def planned_inline():
    """Each module computes its graph work itself, in line with the dense layers (as before
    ``plan_ahead``): the side-by-side row that shows what planning ahead saves."""
    original = ognet_model.plan_ahead
    ognet_model.plan_ahead = lambda modules, xyz: [None] * len(modules)
    try:
        yield
    finally:
        ognet_model.plan_ahead = original


def bench_forward(cloud, batches, repeats, device):
    print(f"\nForward latency, eval mode ({device.type}, the lifted crop), median ms; 'graph "
          "ops' is the time spent inside FPS, knn and ball-query calls, which on the CPU run "
          "on background threads beside the dense layers (so total < graph ops + dense)")
    print(f"{'variant':<30}{'batch':>6}{'total':>10}{'graph ops':>11}{'ms/cloud':>10}")
    # Each variant as built (ball grouping, graph work planned ahead); OG-Net-Small with its
    # graph work in line, and with the nearest-r grouping option, side by side.
    rows = ([(name, {}, False) for name in list_models()]
            + [("ognet_small", {}, True), ("ognet_small", {"grouping": "nearest"}, False)])
    for name, overrides, inline in rows:
        model = create_model(name, **overrides).eval().to(device)
        label = name + (" (nearest)" if overrides else "") + (" (planned inline)" if inline
                                                              else "")
        for b in batches:
            x = cloud.repeat(b, 1, 1).to(device)
            n = repeats if b == 1 else max(3, repeats // 2)
            with torch.no_grad(), (planned_inline() if inline else nullcontext()):
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
            print(f"{label:<30}{b:>6}{total:>10.1f}{g:>11.1f}{total / b:>10.1f}")


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
    cloud = lifted_example()
    bench_ball_query(cloud, args.repeats, device)
    bench_forward(cloud, args.batches, args.repeats, device)


if __name__ == "__main__":
    main()
