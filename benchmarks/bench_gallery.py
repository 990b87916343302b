"""Gallery search at 100k, 1M and 10M items: today's exact torch search next to FAISS.

Usage: ``python benchmarks/bench_gallery.py [--sizes 100000 1000000 10000000] [--queries 200]``.
Prints one Markdown table to paste under "FAISS against the exact search" in BENCHMARKS.md:
per size and index, build time, the memory the search structure holds, median single-query
top-5 latency, batched throughput (64 queries in one call), recall@5 against the exact top-5
(the share of the exact five found) and top-1 identity agreement (the share of queries whose
best match has the identity of the exact best match: what re-id needs). "re-rank 100":
FAISS's best 100 re-scored exactly on the stored float16 features
(``GalleryIndex(rerank=100)``; those features are memory the gallery holds anyway).

Features are synthetic 512-d unit vectors shaped like re-id features: ``n / 50`` identities
with a random unit centre each, every item its centre plus isotropic noise (cosine ~0.7 to
its centre, ~0.5 between two items of one identity, ~0 +- 0.04 across identities), float16,
generated in chunks of 250k from a per-chunk seed (so any chunk can be made again). Queries
are fresh items of random identities. Uniform random unit vectors would be a degenerate test
of approximate search (every similarity is 0 +- 0.04, no neighbour is meaningfully nearer).

Sizes up to ``--exact-max`` (1M) run as a ``GalleryIndex`` with every backend; larger ones
only build the compressed recommended index (``faiss_index="approximate"``) from the chunks
(the exact search's float32 copy would be 19 GiB at 10M) while taking the exact top-5 in the
same pass, and write the float16 features to a memory-mapped file (``--memmap``) that a
``GalleryIndex`` re-ranks from without holding them in memory.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ognet import faiss_search
from ognet.gallery import GalleryIndex

DIM = 512
CHUNK = 250_000
PER_IDENTITY = 50
K = 5


def centres(n: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.nn.functional.normalize(torch.randn(max(1, n // PER_IDENTITY), DIM,
                                                     generator=g), dim=1)


def items(c: torch.Tensor, count: int, seed: int) -> tuple[torch.Tensor, np.ndarray]:
    """``count`` unit features (float16) of random identities of ``c``, and the identities."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, len(c), (count,), generator=g)
    x = c[ids] + torch.randn(count, DIM, generator=g) / DIM ** 0.5
    return torch.nn.functional.normalize(x, dim=1).half(), ids.numpy()


def chunks(c: torch.Tensor, n: int, seed: int = 1):
    """The gallery's ``(features, identities)`` in chunks of at most ``CHUNK`` rows."""
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
    return {"median_ms": 1000 * float(np.median(times)), "qps": len(qb) / batch_s}


def quality(found: np.ndarray, exact: np.ndarray, pids: np.ndarray) -> str:
    """recall@5 against the exact top-5, and top-1 identity agreement."""
    recall = np.mean([len(set(a) & set(b)) / exact.shape[1]
                      for a, b in zip(found, exact, strict=True)])
    same = pids[np.maximum(found[:, 0], 0)] == pids[exact[:, 0]]
    return f"{recall:.3f} | {np.mean(same & (found[:, 0] >= 0)):.3f}"


def rss_peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def row(n, name, build_s, mem_bytes, t, measured):
    build = f"{build_s:.1f} s" if build_s else ""
    print(f"| {n:,} | {name} | {build} | {mem_bytes / 2**20:,.0f} MiB | "
          f"{t['median_ms']:.2f} ms | {t['qps']:,.0f} q/s | {measured} |", flush=True)


def index_bytes(index) -> int:
    """Memory of a FAISS index: codes + ids + coarse centroids for IVF (counted, not
    serialised, to spare a copy at 10M), FAISS's serialisation otherwise."""
    try:
        ivf = faiss_search.import_faiss().extract_index_ivf(index)
    except RuntimeError:
        return len(faiss_search.serialize(index))
    return ivf.ntotal * (ivf.code_size + 8) + ivf.nlist * ivf.d * 4


def sweep(n, index, built, spec, settings, queries, exact, pids, build_s):
    """One row per (search parameters, re-rank) of ``built``, the FAISS index of ``index``."""
    mem = index_bytes(built)
    for params, rerank in settings:
        index.set_backend("faiss", spec, params, rerank=rerank, _faiss=built)
        res = index.search(queries, k=K).indices
        shown = ", ".join(x for x in (params, f"re-rank {rerank}" if rerank else "") if x)
        row(n, f"FAISS `{spec}`" + (f", {shown}" if shown else ""), build_s, mem,
            timed_search(lambda q: index.search(q, k=K), queries), quality(res, exact, pids))
        build_s = 0.0


def train_size(n: int, args) -> int:
    """``--train-size`` rows, or the 39 per cell FAISS's k-means wants if that is more."""
    return min(n, max(args.train_size,
                      faiss_search.MIN_ROWS_PER_CELL * faiss_search.approximate_cells(n)))


def bench_in_memory(n: int, queries: np.ndarray, args) -> None:
    c = centres(n)
    parts = list(chunks(c, n))
    feats = torch.cat([f for f, _ in parts])
    pids = np.concatenate([i for _, i in parts])
    del parts
    t = time.perf_counter()
    index = GalleryIndex(feats, pids, np.zeros(n, np.int64))
    index.search(queries[0], k=K)                         # builds the float32 copy
    build_s = time.perf_counter() - t
    exact = index.search(queries, k=K).indices
    row(n, "exact (torch, today)", build_s, n * DIM * (2 + 4),
        timed_search(lambda q: index.search(q, k=K), queries), "1 (reference) | 1")
    index._compute = None
    gc.collect()

    t = time.perf_counter()
    index.set_backend("faiss", "Flat")
    build_s = time.perf_counter() - t
    res = index.search(queries, k=K).indices
    row(n, "FAISS `Flat` (IndexFlatIP)", build_s, n * DIM * 4,
        timed_search(lambda q: index.search(q, k=K), queries), quality(res, exact, pids))
    index.set_backend("exact")
    gc.collect()

    approx = faiss_search.approximate_spec(n)
    default = faiss_search.APPROXIMATE_PARAMS
    runs = [(approx, [(f"nprobe={p}", r) for p in args.nprobe for r in (0, args.rerank)])]
    if n <= args.pq_max:
        runs += [(approx.replace("SQ8", "PQ64np"), [(default, 0), (default, args.rerank)])]
    if n <= args.hnsw_max:
        runs += [(spec, [(f"efSearch={e}", r) for e in args.ef_search
                         for r in ((0, args.rerank) if "SQ" in spec else (0,))])
                 for spec in args.hnsw]
    for spec, settings in runs:
        t = time.perf_counter()
        index.set_backend("faiss", spec, "", train_size=train_size(n, args))
        sweep(n, index, index._faiss, spec, settings, queries, exact, pids,
              time.perf_counter() - t)
        index.set_backend("exact")
        gc.collect()
    print(f"<!-- {n:,}: peak RSS so far {rss_peak_gib():.1f} GiB -->", flush=True)


def bench_streamed(n: int, queries: np.ndarray, args) -> None:
    """The recommended index built from chunks (never all features in memory), the exact
    top-5 taken in the same pass, the float16 features written to a memory-mapped file."""
    c = centres(n)
    spec = faiss_search.approximate_spec(n)
    folder = Path(tempfile.mkdtemp(prefix="bench_gallery_", dir=args.memmap))
    path = folder / "features.npy"
    offset = np.lib.format.open_memmap(path, "w+", np.float16, (n, DIM)).offset  # header
    pids = np.empty(n, np.int64)
    q = torch.from_numpy(queries)
    best_s = torch.full((len(q), K), -2.0)
    best_i = torch.zeros((len(q), K), dtype=torch.int64)

    def gallery(out):
        """Yields the chunks; writes them to ``out`` (plain writes: the written pages are
        the page cache's, not this process's) and keeps the exact top-5 of the queries."""
        nonlocal best_s, best_i
        start = 0
        out.seek(offset)
        for chunk, ids in chunks(c, n):
            end = start + len(chunk)
            out.write(chunk.numpy().tobytes())
            pids[start:end] = ids
            s, j = torch.topk(q @ chunk.float().T, K, dim=1)
            s, j = torch.cat([best_s, s], 1), torch.cat([best_i, j + start], 1)
            best_s, pos = torch.topk(s, K, dim=1)
            best_i = torch.gather(j, 1, pos)
            start = end
            yield chunk

    t = time.perf_counter()
    with open(path, "r+b") as out:           # trained on rows of the gallery's distribution
        built = faiss_search.build_index(
            gallery(out), DIM, spec, train_sample=lambda: items(c, train_size(n, args), 7)[0],
            params=faiss_search.APPROXIMATE_PARAMS)
    build_s = time.perf_counter() - t
    print(f"<!-- {n:,}: {spec} built, exact top-5 and memory-mapped features written in "
          f"{build_s:.0f} s; peak RSS {rss_peak_gib():.1f} GiB -->", flush=True)
    exact = best_i.numpy()
    mapped = torch.from_numpy(np.load(path, mmap_mode="r+"))
    index = GalleryIndex(mapped, pids, np.zeros(n, np.int64))   # features not in memory
    sweep(n, index, built, spec,
          [(f"nprobe={p}", r) for p in args.nprobe for r in (0, args.rerank)],
          queries, exact, pids, build_s)
    print(f"<!-- {n:,}: peak RSS so far {rss_peak_gib():.1f} GiB -->", flush=True)
    del index, mapped, built
    path.unlink()
    folder.rmdir()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000, 10_000_000])
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--exact-max", type=int, default=1_000_000,
                   help="largest size run as an in-memory GalleryIndex with every backend")
    p.add_argument("--hnsw-max", type=int, default=100_000,
                   help="largest size with the --hnsw indexes")
    p.add_argument("--pq-max", type=int, default=1_000_000,
                   help="largest size with the IVF-PQ64 comparison rows")
    p.add_argument("--hnsw", nargs="*", default=["HNSW32", "HNSW32,SQ8"],
                   help="HNSW index factory strings (graph over float32 or SQ8 codes)")
    p.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256],
                   help="IVF cells scanned per query, one row each")
    p.add_argument("--ef-search", type=int, nargs="+", default=[64, 128],
                   help="HNSW efSearch values, one row each")
    p.add_argument("--rerank", type=int, default=faiss_search.APPROXIMATE_RERANK,
                   help="re-rank shortlist of the rows with re-ranking")
    p.add_argument("--train-size", type=int, default=200_000,
                   help="IVF training rows (at least 39 per cell are taken)")
    p.add_argument("--repeats", type=int, default=100, help="single queries timed per row")
    p.add_argument("--memmap", default=None, help="folder for the memory-mapped float16 "
                   "features of the sizes past --exact-max (default: the temporary folder)")
    args = p.parse_args()
    global REPEATS
    REPEATS = args.repeats
    faiss = faiss_search.import_faiss()
    print(f"<!-- {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
          f"load average {os.getloadavg()[0]:.1f}, torch {torch.__version__} "
          f"({torch.get_num_threads()} threads), faiss {faiss.__version__} "
          f"({faiss.omp_get_max_threads()} threads) -->")
    print("| gallery | index | build | memory | top-5 median | batch of 64 | recall@5 | "
          "top-1 identity |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|", flush=True)
    for n in args.sizes:
        t = time.perf_counter()
        queries = items(centres(n), args.queries, seed=99)[0].float().numpy()
        (bench_in_memory if n <= args.exact_max else bench_streamed)(n, queries, args)
        print(f"<!-- {n:,}: {time.perf_counter() - t:.0f} s -->", flush=True)
        gc.collect()
    print(f"<!-- load average at the end {os.getloadavg()[0]:.1f} -->")


if __name__ == "__main__":
    main()
