"""Gallery search at 100k, 1M and 10M items: today's exact torch search next to FAISS.

Usage: ``python benchmarks/bench_gallery.py [--sizes 100000 1000000 10000000] [--queries 200]``.
Prints one Markdown table to paste under ``## Gallery search`` in BENCHMARKS.md: per size and
index, build time, the memory the search structure holds, median / p90 single-query top-5
latency, batched throughput and recall@5 against the exact top-5 (the share of the exact
five found). "re-rank 100": FAISS's best 100 re-scored exactly on the stored float16
features (``GalleryIndex(rerank=100)``; those features are memory the gallery holds anyway).

Features are synthetic 512-d unit vectors shaped like re-id features: ``n / 50`` identities
with a random unit centre each, every item its centre plus isotropic noise (cosine ~0.7 to
its centre, ~0.5 between two items of one identity, ~0 +- 0.04 across identities), float16,
generated in chunks of 250k from a per-chunk seed (so any chunk can be made again). Queries
are fresh items of random identities. Uniform random unit vectors would be a degenerate test
of approximate search (every similarity is 0 +- 0.04, no neighbour is meaningfully nearer).

Sizes up to ``--exact-max`` (1M) run as a ``GalleryIndex`` with every backend; larger ones
only build the compressed IVF-PQ index from the chunks (the float16 features alone would be
9.5 GiB at 10M, the exact search's float32 copy 19 GiB) and take the exact top-5 by
streaming the chunks once.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import time

import numpy as np
import torch

from ognet import faiss_search
from ognet.gallery import GalleryIndex

DIM = 512
CHUNK = 250_000
PER_IDENTITY = 50


def centres(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(max(1, n // PER_IDENTITY), DIM,
                                                     generator=g), dim=1)


def items(c: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """``count`` unit features (float16) of random identities of ``c``."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, len(c), (count,), generator=g)
    x = c[ids] + torch.randn(count, DIM, generator=g) / DIM ** 0.5
    return torch.nn.functional.normalize(x, dim=1).half()


def chunks(c: torch.Tensor, n: int, seed: int = 1):
    for i, s in enumerate(range(0, n, CHUNK)):
        yield items(c, min(CHUNK, n - s), seed * 1_000_003 + i)


REPEATS = 100


def timed_search(search, queries: np.ndarray, batch: int = 64) -> dict:
    search(queries[:1])                                   # warm-up (caches, lazy copies)
    times = []
    for q in queries[:REPEATS]:
        t = time.perf_counter()
        search(q[None])
        times.append(time.perf_counter() - t)
    qb = queries[:batch]
    t = time.perf_counter()
    search(qb)
    batch_s = time.perf_counter() - t
    return {"median_ms": 1000 * float(np.median(times)),
            "p90_ms": 1000 * float(np.percentile(times, 90)), "qps": len(qb) / batch_s}


def recall_at_5(found: np.ndarray, exact: np.ndarray) -> float:
    return float(np.mean([len(set(a) & set(b)) / exact.shape[1]
                          for a, b in zip(found, exact, strict=True)]))


def rss_peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def row(n, name, build_s, mem_bytes, t, recall):
    print(f"| {n:,} | {name} | {build_s:.1f} s | {mem_bytes / 2**20:,.0f} MiB | "
          f"{t['median_ms']:.2f} ms | {t['p90_ms']:.2f} ms | {t['qps']:,.0f} q/s | "
          f"{recall} |", flush=True)


def ivfpq_spec(n: int) -> str:
    """IVF-PQ with 64-byte codes (``np``: no polysemous training, which only a Hamming
    pre-filter that we do not use needs, and which is slow); 1024 cells past 200k items
    (more cells would make training and adding, k-means and assignment, too slow for 2
    cores at 10M)."""
    return "IVF1024,PQ64np" if n > 200_000 else "IVF256,PQ64np"


def bench_in_memory(n: int, queries: np.ndarray, args) -> None:
    c = centres(n)
    feats = torch.cat(list(chunks(c, n)))
    t = time.perf_counter()
    index = GalleryIndex(feats, np.zeros(n, np.int64), np.zeros(n, np.int64))
    index.search(queries[0], k=5)                         # builds the float32 copy
    build_s = time.perf_counter() - t
    exact = index.search(queries, k=5).indices
    row(n, "exact (torch, today)", build_s, n * DIM * (2 + 4),
        timed_search(lambda q: index.search(q, k=5), queries), "1 (reference)")
    index._compute = None
    gc.collect()

    t = time.perf_counter()
    index.set_backend("faiss", "Flat")
    build_s = time.perf_counter() - t
    res = index.search(queries, k=5).indices
    row(n, "FAISS `Flat` (IndexFlatIP)", build_s, n * DIM * 4,
        timed_search(lambda q: index.search(q, k=5), queries),
        f"{recall_at_5(res, exact):.3f} (same top-5: {np.mean((res == exact).all(1)):.0%})")
    index.set_backend("exact")
    gc.collect()

    specs = [ivfpq_spec(n)] + (["HNSW32"] if n <= args.hnsw_max else [])
    for spec in specs:
        t = time.perf_counter()
        index.set_backend("faiss", spec, train_size=args.train_size)
        build_s = time.perf_counter() - t
        mem = (n * DIM * 4 + n * 32 * 2 * 4 if spec.startswith("HNSW")      # vectors + links
               else len(faiss_search.serialize(index._faiss)))
        sweep = ("efSearch", (16, 64, 128)) if spec.startswith("HNSW") else \
            ("nprobe", (8, 32, 128))
        reranks = (0,) if spec.startswith("HNSW") else (0, 100)
        for value in sweep[1]:
            for rerank in reranks:
                index.set_backend("faiss", spec, f"{sweep[0]}={value}", rerank=rerank,
                                  _faiss=index._faiss)
                res = index.search(queries, k=5).indices
                shown = f", re-rank {rerank}" if rerank else ""
                row(n, f"FAISS `{spec}`, {sweep[0]}={value}{shown}", build_s, mem,
                    timed_search(lambda q: index.search(q, k=5), queries),
                    f"{recall_at_5(res, exact):.3f}")
                build_s = 0.0
        index.set_backend("exact")
        gc.collect()
    print(f"<!-- {n:,}: peak RSS so far {rss_peak_gib():.1f} GiB -->", flush=True)


def bench_streamed(n: int, queries: np.ndarray, args) -> None:
    """IVF-PQ built from chunks (never all features in memory); exact top-5 by streaming."""
    c = centres(n)
    spec = ivfpq_spec(n)
    t = time.perf_counter()
    sample = items(c, args.train_size, seed=7)            # same distribution as the gallery
    index = faiss_search.build_index(chunks(c, n), DIM, spec, train_sample=lambda: sample)
    build_s = time.perf_counter() - t
    q = torch.from_numpy(queries)
    best_s = torch.full((len(q), 5), -2.0)
    best_i = torch.zeros((len(q), 5), dtype=torch.int64)
    for i, chunk in enumerate(chunks(c, n)):
        s, j = torch.topk(q @ chunk.float().T, 5, dim=1)
        s, j = torch.cat([best_s, s], 1), torch.cat([best_i, j + i * CHUNK], 1)
        best_s, pos = torch.topk(s, 5, dim=1)
        best_i = torch.gather(j, 1, pos)
    exact = best_i.numpy()
    mem = len(faiss_search.serialize(index))
    for value in (8, 32, 128):
        faiss_search.set_params(index, f"nprobe={value}")
        _, res = faiss_search.search(index, queries, 5)
        row(n, f"FAISS `{spec}`, nprobe={value}", build_s, mem,
            timed_search(lambda x: faiss_search.search(index, x, 5), queries),
            f"{recall_at_5(res, exact):.3f}")
        build_s = 0.0
    print(f"<!-- {n:,}: peak RSS so far {rss_peak_gib():.1f} GiB -->", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--exact-max", type=int, default=1_000_000,
                   help="largest size run as an in-memory GalleryIndex with every backend")
    p.add_argument("--hnsw-max", type=int, default=100_000, help="largest size for HNSW32")
    p.add_argument("--train-size", type=int, default=100_000, help="IVF-PQ training rows")
    p.add_argument("--repeats", type=int, default=100, help="single queries timed per row")
    args = p.parse_args()
    global REPEATS
    REPEATS = args.repeats
    faiss = faiss_search.import_faiss()
    print(f"<!-- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), faiss {faiss.__version__} "
          f"({faiss.omp_get_max_threads()} threads) -->")
    print("| gallery | index | build | memory | top-5 median | p90 | batch of 64 | recall@5 |")
    print("|---:|---|---:|---:|---:|---:|---:|---|", flush=True)
    for n in args.sizes:
        queries = items(centres(n), args.queries, seed=99).float().numpy()
        (bench_in_memory if n <= args.exact_max else bench_streamed)(n, queries, args)
        gc.collect()
    print(f"<!-- load average at the end {os.getloadavg()[0]:.1f} -->")


if __name__ == "__main__":
    main()
