"""FAISS behind :class:`ognet.gallery.GalleryIndex`: building, saving and searching an index.

``GalleryIndex(..., backend="faiss", faiss_index=SPEC)`` puts its features into a FAISS index
built from SPEC, a FAISS *index factory* string (or :data:`APPROXIMATE`, the recommended
one for the gallery's size), with the inner-product metric (the features are unit vectors,
so inner product = cosine similarity):

- ``"Flat"`` — ``IndexFlatIP``: exact; the same top-k as the torch search (float32 copy of
  the float16 features, 4 bytes per value).
- ``"IVF{nlist},PQ{m}"`` — inverted file over ``nlist`` k-means cells, vectors compressed by
  product quantisation to ``m`` bytes (512-d float16 = 1024 bytes -> 64 bytes with ``PQ64``).
  Approximate: a query scans the ``nprobe`` nearest cells (search parameter ``"nprobe=32"``).
  Trained on a random subsample of ``train_size`` rows (k-means cost grows with the sample).
- ``"IVF{nlist},SQ8"`` — inverted file, vectors stored as 8-bit scalar codes (one byte per
  value: 512 bytes per 512-d vector, half the float16 features). The recommended approximate
  index, :data:`APPROXIMATE` (see :func:`approximate_spec`).
- ``"HNSW{M}"`` — a graph over the full float32 vectors: fast and accurate, but no smaller
  than ``Flat`` and slow to build; parameter ``"efSearch=128"``.

Search parameters are FAISS ``ParameterSpace`` strings (``"nprobe=32"``,
``"efSearch=128"``). A trained index is stored with the gallery as FAISS's own binary
serialisation (``faiss.serialize_index``, a uint8 array; no pickle); ``Flat`` is rebuilt from
the stored features instead. FAISS is optional: :func:`import_faiss` raises
:class:`FaissMissing` when it is not installed, and the gallery falls back to its exact torch
search.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

#: The exact index, and the default of ``backend="faiss"``.
EXACT_SPEC = "Flat"

#: ``faiss_index=APPROXIMATE`` picks the recommended approximate index for the gallery's size,
#: :func:`approximate_spec`, searched with :data:`APPROXIMATE_PARAMS` and re-ranked over
#: :data:`APPROXIMATE_RERANK` candidates unless other values are given.
APPROXIMATE = "approximate"
APPROXIMATE_PARAMS = "nprobe=256"
APPROXIMATE_RERANK = 100

#: FAISS's k-means wants at least this many training rows per cell (it warns below).
MIN_ROWS_PER_CELL = 39
#: Most cells of :func:`approximate_spec`. 4096 cells: 10M items built in 11 minutes on two
#: cores (BENCHMARKS.md); 16384 would take 4 times the assignment work and 640k training rows
#: (most of an hour by extrapolation, not measured).
MAX_CELLS = 4096


def approximate_cells(n: int) -> int:
    """IVF cells of the recommended index for ``n`` items: the power of two nearest
    ``4 sqrt(n)`` (FAISS's guideline; 1024 at 100k, 4096 at 1M), at most :data:`MAX_CELLS`
    and ``n / 39`` (the training rows per cell FAISS's k-means wants), at least 1."""
    if n < 1:
        raise ValueError(f"an index needs at least one item, got {n}")
    nlist = min(2 ** round(np.log2(4 * np.sqrt(n))), MAX_CELLS)
    while nlist > 1 and nlist * MIN_ROWS_PER_CELL > n:
        nlist //= 2
    return int(nlist)


def approximate_spec(n: int) -> str:
    """The recommended approximate index for ``n`` items: ``"IVF{nlist},SQ8"``.

    - ``IVF{nlist}`` (:func:`approximate_cells`): a query scans ``nprobe`` of ``nlist`` cells,
      ``nprobe * n / nlist`` codes (62k of 1M with ``nprobe=256`` and 4096 cells). Re-id
      features form one small cluster per identity, and the crops of one identity end up in
      several cells, more of them as each cell holds more identities: on the benchmark's
      clustered features (50 crops per identity) recall@5 at 1M rose only from 0.87 to 0.95
      (re-ranked) as ``nprobe`` went from 16 to 256 (BENCHMARKS.md, "FAISS against the exact
      search"); hence many cells (``4 sqrt(n)``) and a large ``nprobe``. Each item goes to
      its nearest centroid, compared with all of them: an HNSW graph over the centroids
      (``IVF4096_HNSW32``) with FAISS's default search depth kept recall@5 at 0.69-0.86.
    - ``SQ8``: 8-bit scalar codes, one byte per value (512 bytes per 512-d vector, 4.8 GiB at
      10M, half the float16 features): precise enough to order the near-equal crops of one
      identity, which 64-byte PQ codes are not.
    """
    return f"IVF{approximate_cells(n)},SQ8"


class FaissMissing(ImportError):
    """The ``faiss`` package (``pip install faiss-cpu``) is not installed."""


def import_faiss():
    """The ``faiss`` module, or :class:`FaissMissing` with the install command."""
    try:
        import faiss
    except ImportError as exc:
        raise FaissMissing(f"faiss is not installed ({exc}); pip install faiss-cpu") from None
    return faiss


def _rows(x) -> np.ndarray:
    """(n, d) float32 C-contiguous array, as FAISS wants it."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().float().numpy()
    return np.ascontiguousarray(np.asarray(x, dtype=np.float32))


def build_index(chunks: Iterable, dim: int, spec: str = EXACT_SPEC,
                train_sample: Callable[[], np.ndarray] | None = None, params: str = ""):
    """A FAISS inner-product index over the rows of ``chunks`` (iterable of (n_i, dim) arrays
    or tensors, added in order, so row ``j`` overall gets id ``j``).

    ``train_sample``: returns the (t, dim) rows an index that needs training (IVF, PQ) is
    trained on (called only for such specs). ``params``: search parameters set on the result.
    Raises ``ValueError`` for a spec FAISS does not understand.
    """
    faiss = import_faiss()
    try:
        index = faiss.index_factory(dim, spec, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as exc:
        raise ValueError(f"FAISS cannot build the index {spec!r} for {dim}-d vectors: "
                         f"{str(exc).strip().splitlines()[-1]}") from None
    if not index.is_trained:
        sample = train_sample() if train_sample is not None else None
        if sample is None or len(sample) == 0:
            raise ValueError(f"FAISS index {spec!r} needs training rows")
        index.train(_rows(sample))
    for chunk in chunks:
        index.add(_rows(chunk))
    set_params(index, params)
    return index


def set_params(index, params: str) -> None:
    """Apply search parameters such as ``"nprobe=32"`` or ``"efSearch=128"`` (``""``: none)."""
    if params:
        import_faiss().ParameterSpace().set_index_parameters(index, params)


def search(index, queries, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(Q, D) unit queries -> ``(similarities, indices)``, both (Q, k), best first; an
    approximate index may return fewer than ``k`` hits for a query, padded with index -1."""
    sims, idx = index.search(_rows(queries), k)
    return sims.astype(np.float32), idx.astype(np.int64)


def serialize(index) -> np.ndarray:
    """The index as FAISS's binary format in a uint8 array."""
    return np.asarray(import_faiss().serialize_index(index), dtype=np.uint8)


def deserialize(blob: np.ndarray, params: str = ""):
    """Inverse of :func:`serialize`, with search ``params`` set."""
    index = import_faiss().deserialize_index(np.ascontiguousarray(blob, dtype=np.uint8))
    set_params(index, params)
    return index


def sample_rows(features, size: int, seed: int = 0) -> np.ndarray:
    """At most ``size`` rows of (N, D) ``features`` drawn without replacement, in order."""
    n = len(features)
    if n <= size:
        return _rows(features)
    pick = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    return _rows(features[pick])
