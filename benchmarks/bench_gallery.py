"""Top-5 search latency of ``GalleryIndex`` on random 512-d features (float16 storage).

Usage: ``python benchmarks/bench_gallery.py [--sizes 20000 100000 1000000] [--device cpu]``.
Prints a Markdown table (median / p90 of single-query latency, and batched throughput) to
paste under ``## Gallery search`` in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch

from ognet.gallery import GalleryIndex


def make_index(n: int, dim: int = 512, seed: int = 0) -> GalleryIndex:
    """A gallery of ``n`` random unit vectors (made in blocks to bound memory)."""
    g = torch.Generator().manual_seed(seed)
    feats = torch.empty((n, dim), dtype=torch.float16)
    for s in range(0, n, 100_000):
        block = torch.randn((min(100_000, n - s), dim), generator=g)
        feats[s:s + len(block)] = torch.nn.functional.normalize(block, dim=1).half()
    return GalleryIndex(feats, np.zeros(n, np.int64), np.zeros(n, np.int64))


def bench(index: GalleryIndex, repeats: int, batch: int = 64) -> dict:
    rng = np.random.default_rng(1)
    queries = rng.normal(size=(repeats, index.dim)).astype(np.float32)
    t = time.perf_counter()
    index.search(queries[0], k=5)                      # warm-up (builds the compute cache)
    cache_s = time.perf_counter() - t
    times = []
    for q in queries:
        t = time.perf_counter()
        index.search(q, k=5)
        if index.device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t)
    qb = rng.normal(size=(batch, index.dim)).astype(np.float32)
    t = time.perf_counter()
    index.search(qb, k=5)
    batch_s = time.perf_counter() - t
    return {"median_ms": 1000 * float(np.median(times)),
            "p90_ms": 1000 * float(np.percentile(times, 90)),
            "batch_qps": batch / batch_s, "first_s": cache_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000, 1_000_000])
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    print("| gallery | storage | top-5 median | p90 | batch of 64 | first search |")
    print("|---:|---:|---:|---:|---:|---:|")
    for n in args.sizes:
        index = make_index(n).to(args.device)
        r = bench(index, args.repeats)
        mb = n * 512 * 2 / 2**20
        print(f"| {n:,} | {mb:,.0f} MiB f16 | {r['median_ms']:.2f} ms | {r['p90_ms']:.2f} ms | "
              f"{r['batch_qps']:,.0f} q/s | {r['first_s']:.2f} s |", flush=True)
        del index


if __name__ == "__main__":
    main()
