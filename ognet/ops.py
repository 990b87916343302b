"""Graph operations on point clouds: farthest point sampling, k-nearest neighbours, grouping.

One interface, several backends. Every function takes batched tensors and a ``backend``
argument:

- ``"torch"``: pure PyTorch, batched, runs on any device. It is the tests' reference and the
  fallback where the other libraries are missing (the lent GPU machines have no torch-cluster).
- ``"cluster"``: torch-cluster (``fps``, ``knn``), CPU and CUDA.
- ``"open3d"``: Open3D's ``farthest_point_down_sample`` (CPU, one cloud at a time).
- ``"scipy"``: ``scipy.spatial.cKDTree`` for 3-D knn on the CPU.
- ``"auto"`` (default): what ``benchmarks/bench_model.py`` measured fastest for that device and
  size (see BENCHMARKS.md); the choice lives in ``_auto_fps_backend`` / ``_auto_knn_backend``.

**Order.** A lifted cloud is full of ties: about 80% of its points lie on the background
plane, a pixel grid at one depth, so many points are at exactly the same distance from a
query (39% of the points tie at their 20th/21st neighbour). Each backend breaks such ties by
index, each in its own deterministic way. So that the result depends on the points and not on
the order a file lists them in, :func:`canonical_order` sorts a cloud by its values; OG-Net
canonicalises its input with it (``OGNet.forward_features``), after which every index-based
tie-break of every backend (the FPS start and ties, k-NN ties, group members) is a function
of the point set. The ball query sorts its members by value itself (:func:`canonical_rank`).
Backends agree exactly away from ties; at ties they may pick different (equally near) points.

**Precision.** Distances are always compared in float32: every function here casts its
coordinates to float32 and turns autocast off (:func:`_float32_geometry`), so mixed-precision
training (``--amp``) never changes a neighbourhood.

Shapes: ``B`` clouds, ``N`` support points, ``M`` query / sampled points, ``D`` coordinates
(3 for xyz, more for the non-local graph on features), ``k`` neighbours.
"""

from __future__ import annotations

import functools
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

try:  # torch-cluster is a compiled extension: optional at import time
    import torch_cluster
except ImportError:  # pragma: no cover - exercised on machines without it
    torch_cluster = None

try:
    import open3d as o3d
except ImportError:  # pragma: no cover
    o3d = None

try:
    from scipy.spatial import cKDTree
except ImportError:  # pragma: no cover
    cKDTree = None


def available_backends() -> dict[str, bool]:
    """Which optional backends are importable here."""
    return {
        "torch": True,
        "cluster": torch_cluster is not None,
        "open3d": o3d is not None,
        "scipy": cKDTree is not None,
    }


# --------------------------------------------------------------------------------------------
# Order and precision
# --------------------------------------------------------------------------------------------
def canonical_order(points: torch.Tensor) -> torch.Tensor:
    """The permutation that sorts each cloud by its values, in reading order: from the top
    (largest y) down, then from left to right (x), then by z, then by the remaining columns
    (rgb) in turn. Exact duplicates (equal in every column) are interchangeable, so
    ``points`` gathered by it is the same tensor, bit for bit, however the rows were ordered.

    Reading order, because it is the order in which a lifted crop's pixels are stored (rows
    from the top, each from the left): the background grid keeps its file order, and an
    index-order rule (the authors' ball query, ``members="first"``) sees the cloud as a
    row-major file would give it. The same order as :func:`ognet.pointcloud.canonical_rows`.

    Args:
        points: (B, N, C), C >= 2 (xyz, then any features).
    Returns:
        (B, N) long: ``points[b, order[b]]`` is cloud b sorted.
    """
    keys = [-points[..., 1], points[..., 0], *(points[..., c] for c in range(2, points.shape[-1]))]
    order = torch.arange(points.shape[1], device=points.device).expand(points.shape[0], -1)
    for key in reversed(keys):  # stable sorts, least significant key first
        order = torch.gather(order, 1, torch.gather(key, 1, order).argsort(dim=1, stable=True))
    return order


def canonical_rank(points: torch.Tensor) -> torch.Tensor:
    """Position of each point in :func:`canonical_order`: a tie-break that depends on the
    values, not on the storage order. (B, N, C) -> (B, N) long."""
    order = canonical_order(points)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(points.shape[1], device=points.device).expand_as(order))
    return rank


def _float32_geometry(fn):
    """Run a graph operation with float32 coordinates and autocast off: under mixed precision
    (``--amp bf16|fp16``) a matmul of coordinates would otherwise run in 16 bits, and
    16-bit distances reorder neighbours (bfloat16 keeps 8 bits of mantissa: 2 cm steps at
    2 m). Tensor arguments of a floating dtype are cast to float32; indices are untouched."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        def cast(a):
            return a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a
        args = [cast(a) for a in args]
        kwargs = {k: cast(v) for k, v in kwargs.items()}
        device = next((a.device.type for a in args if isinstance(a, torch.Tensor)), "cpu")
        with torch.autocast(device, enabled=False):
            return fn(*args, **kwargs)
    return wrapper


# --------------------------------------------------------------------------------------------
# Farthest point sampling
# --------------------------------------------------------------------------------------------
def farthest_from_centroid(xyz: torch.Tensor) -> torch.Tensor:
    """Index of the point farthest from its cloud's centroid.

    Args:
        xyz: (B, N, 3)
    Returns:
        (B,) long
    """
    centroid = xyz.mean(dim=1, keepdim=True)
    return ((xyz - centroid) ** 2).sum(-1).argmax(dim=1)


@_float32_geometry
def farthest_point_sample(xyz: torch.Tensor, num_samples: int, start: torch.Tensor | None = None,
                          backend: str = "auto") -> torch.Tensor:
    """Farthest point sampling: iteratively pick the point farthest from those picked so far.

    The default start, the point farthest from the centroid, is chosen from the geometry (the
    authors' kernel starts at index 0, whatever point is stored first). Ties (of the start, or
    of the farthest point at a step) go to the lowest index in the torch backend and to each
    library's own deterministic choice in the others: on a cloud in :func:`canonical_order`
    the selection is a function of the point set on every backend.

    Args:
        xyz: (B, N, 3) coordinates.
        num_samples: M, points to keep (M <= N).
        start: (B,) index of the first point; default: the point farthest from the centroid.
        backend: ``"auto"``, ``"torch"``, ``"cluster"`` or ``"open3d"``.
    Returns:
        (B, M) long indices into N, sorted ascending (Open3D only reports the selected set,
        so every backend returns the set in index order).
    """
    B, N, _ = xyz.shape
    if num_samples > N:
        raise ValueError(f"cannot sample {num_samples} points from a cloud of {N}")
    if start is None:
        start = farthest_from_centroid(xyz)
    if backend == "auto":
        backend = _auto_fps_backend(xyz, num_samples)
    if backend == "torch":
        idx = _fps_torch(xyz, num_samples, start)
    elif backend == "cluster":
        idx = _fps_cluster(xyz, num_samples, start)
    elif backend == "open3d":
        idx = _fps_open3d(xyz, num_samples, start)
    else:
        raise ValueError(f"unknown FPS backend {backend!r}")
    return idx.sort(dim=1).values


def _auto_fps_backend(xyz: torch.Tensor, num_samples: int) -> str:
    # Measured with benchmarks/bench_model.py (BENCHMARKS.md, "Graph operations"): on the CPU
    # Open3D's C++ loop is 10x faster than torch-cluster and the Python loop, one cloud at a
    # time or batched; on CUDA torch-cluster's kernel avoids the Python loop.
    if xyz.device.type == "cpu":
        if o3d is not None:
            return "open3d"
        return "cluster" if torch_cluster is not None else "torch"
    return "cluster" if torch_cluster is not None else "torch"


def _fps_torch(xyz: torch.Tensor, m: int, start: torch.Tensor) -> torch.Tensor:
    B, N, _ = xyz.shape
    batch = torch.arange(B, device=xyz.device)
    idx = torch.empty(B, m, dtype=torch.long, device=xyz.device)
    min_dist = torch.full((B, N), float("inf"), device=xyz.device, dtype=xyz.dtype)
    farthest = start.to(xyz.device)
    for i in range(m):
        idx[:, i] = farthest
        centre = xyz[batch, farthest].unsqueeze(1)  # (B, 1, 3)
        min_dist = torch.minimum(min_dist, ((xyz - centre) ** 2).sum(-1))
        farthest = min_dist.argmax(dim=1)
    return idx


def _swap_first(xyz: torch.Tensor, start: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Permutation per cloud that moves ``start`` to position 0 (libraries start at index 0)."""
    B, N, _ = xyz.shape
    perm = torch.arange(N, device=xyz.device).repeat(B, 1)
    batch = torch.arange(B, device=xyz.device)
    perm[batch, 0] = start
    perm[batch, start] = 0
    return xyz[batch[:, None], perm], perm


def _fps_cluster(xyz: torch.Tensor, m: int, start: torch.Tensor) -> torch.Tensor:
    if torch_cluster is None:
        raise RuntimeError("torch-cluster is not installed (backend='cluster')")
    B, N, _ = xyz.shape
    swapped, perm = _swap_first(xyz, start.to(xyz.device))
    batch = torch.arange(B, device=xyz.device).repeat_interleave(N)
    flat = torch_cluster.fps(swapped.reshape(B * N, 3).contiguous(), batch, ratio=m / N,
                             random_start=False)
    local = (flat - batch[flat] * N).view(B, -1)[:, :m]
    return torch.gather(perm, 1, local)


def _fps_open3d(xyz: torch.Tensor, m: int, start: torch.Tensor) -> torch.Tensor:
    if o3d is None:
        raise RuntimeError("Open3D is not installed (backend='open3d')")
    out = []
    points = xyz.detach().cpu().double().numpy()
    for b in range(points.shape[0]):
        pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points[b]))
        # Open3D returns a cloud, not indices: carry each point's index in its normal.
        ids = np.zeros_like(points[b])
        ids[:, 0] = np.arange(len(ids))
        pcd.normals = o3d.utility.Vector3dVector(ids)
        picked = pcd.farthest_point_down_sample(m, int(start[b]))
        out.append(np.asarray(picked.normals)[:, 0].astype(np.int64))
    return torch.from_numpy(np.stack(out)).to(xyz.device)


# --------------------------------------------------------------------------------------------
# k nearest neighbours
# --------------------------------------------------------------------------------------------
@_float32_geometry
def knn(query: torch.Tensor, support: torch.Tensor, k: int, backend: str = "auto") -> torch.Tensor:
    """The ``k`` support points nearest to each query point (Euclidean), nearest first.

    Among support points at the same distance, each backend picks its own deterministic way
    (by index, through its search structure): on clouds in :func:`canonical_order` the
    neighbours are a function of the point sets.

    Args:
        query: (B, M, D)
        support: (B, N, D)
        k: neighbours per query point (k <= N). A query point that is also a support point is
           its own nearest neighbour.
        backend: ``"auto"``, ``"torch"``, ``"cluster"`` or ``"scipy"`` (D == 3 only).
    Returns:
        (B, M, k) long indices into N.
    """
    if k > support.shape[1]:
        raise ValueError(f"k={k} exceeds the {support.shape[1]} support points")
    if backend == "auto":
        backend = _auto_knn_backend(query, support)
    if backend == "torch":
        return _knn_torch(query, support, k)
    if backend == "cluster":
        return _knn_cluster(query, support, k)
    if backend == "scipy":
        return _knn_scipy(query, support, k)
    raise ValueError(f"unknown knn backend {backend!r}")


def knn_graph(x: torch.Tensor, k: int, backend: str = "auto") -> torch.Tensor:
    """k-nearest-neighbour graph of a cloud, each point included as its own neighbour
    (as in DGCNN's EdgeConv).

    Args:
        x: (B, N, D) coordinates (xyz, or xyz concatenated with features).
    Returns:
        (B, N, k) long: ``idx[b, i]`` are the neighbours j of point i, nearest first.
    """
    return knn(x, x, k, backend=backend)


def _auto_knn_backend(query: torch.Tensor, support: torch.Tensor) -> str:
    # Measured with benchmarks/bench_model.py: on the CPU a KD-tree (scipy, then torch-cluster)
    # wins for 3-D clouds of 512 points or more; below that, and for the non-local graph on
    # high-dimensional features, the batched brute force (one matmul and a top-k) wins. On
    # CUDA the brute force is one kernel.
    if query.device.type == "cpu" and query.shape[-1] == 3 and support.shape[1] >= 512:
        if cKDTree is not None:
            return "scipy"
        if torch_cluster is not None:
            return "cluster"
    return "torch"


def _knn_torch(query: torch.Tensor, support: torch.Tensor, k: int, chunk: int = 2048):
    # Centre on the support's mean: the expansion below loses precision far from the origin,
    # and centring keeps the graph the same under translation.
    centre = support.mean(dim=1, keepdim=True)
    query, support = query - centre, support - centre
    out = []
    s2 = (support**2).sum(-1).unsqueeze(1)  # (B, 1, N)
    for q in query.split(chunk, dim=1):
        # |q - s|^2 = |q|^2 - 2 q.s + |s|^2 ; |q|^2 does not change the ranking.
        d = s2 - 2 * torch.bmm(q, support.transpose(1, 2))
        out.append(d.topk(k, dim=-1, largest=False, sorted=True).indices)
    return torch.cat(out, dim=1)


def _knn_cluster(query: torch.Tensor, support: torch.Tensor, k: int) -> torch.Tensor:
    if torch_cluster is None:
        raise RuntimeError("torch-cluster is not installed (backend='cluster')")
    B, M, D = query.shape
    N = support.shape[1]
    bq = torch.arange(B, device=query.device).repeat_interleave(M)
    bs = torch.arange(B, device=query.device).repeat_interleave(N)
    row, col = torch_cluster.knn(support.reshape(B * N, D).contiguous(),
                                 query.reshape(B * M, D).contiguous(), k, bs, bq)
    col = col - bs[col] * N
    # torch-cluster returns neighbours grouped by query but not sorted by distance.
    col = col.view(B, M, k)
    d = ((support[torch.arange(B, device=query.device)[:, None, None], col]
          - query.unsqueeze(2)) ** 2).sum(-1)
    order = d.argsort(dim=-1, stable=True)
    return torch.gather(col, 2, order)


def _knn_scipy(query: torch.Tensor, support: torch.Tensor, k: int) -> torch.Tensor:
    if cKDTree is None:
        raise RuntimeError("scipy is not installed (backend='scipy')")
    q = query.detach().cpu().numpy()
    s = support.detach().cpu().numpy()
    out = np.empty(q.shape[:2] + (k,), dtype=np.int64)
    for b in range(q.shape[0]):
        _, idx = cKDTree(s[b]).query(q[b], k=k, workers=-1)
        out[b] = np.asarray(idx).reshape(q.shape[1], k)
    return torch.from_numpy(out).to(query.device)


# --------------------------------------------------------------------------------------------
# Ball query
# --------------------------------------------------------------------------------------------
#: How a ball chooses its r members (:func:`multi_scale_ball_query`).
BALL_MEMBERS = ("spread", "first")


def ball_query(query: torch.Tensor, support: torch.Tensor, radius: float, max_members: int,
               backend: str = "auto", members: str = "spread") -> torch.Tensor:
    """``max_members`` support points of the ball of ``radius`` around each query.

    One scale of :func:`multi_scale_ball_query`; see there.

    Returns:
        (B, M, max_members) long indices into N.
    """
    return multi_scale_ball_query(query, support, (radius,), (max_members,), backend,
                                  members)[0]


@_float32_geometry
def multi_scale_ball_query(query: torch.Tensor, support: torch.Tensor,
                           radii: tuple[float, ...], max_members: tuple[int, ...],
                           backend: str = "auto", members: str = "spread") -> list[torch.Tensor]:
    """Group members of each query point, one ball per scale, chosen from the geometry.

    The authors' receptive field (PointNet++'s ball query: radius ``radii[s]``, at most
    ``r = max_members[s]`` members). Which r points of a ball holding more is ``members``:

    - ``"spread"`` (default): let ``p_0, ..., p_{n-1}`` be the support points with
      ``|p - q| <= radius``, sorted by distance, points at exactly the same distance (common:
      the lifted background is a pixel grid on one plane) by :func:`canonical_rank`, never
      by their index. The members are the points at the evenly spaced ranks
      ``rank_i = round(i (n - 1) / (r - 1))``, ``i = 0..r-1``: the nearest point (the query
      itself when it is a support point), the farthest one inside the ball, and evenly in
      between. They spread over the ball; a ball holding fewer than r points repeats its
      members (each about r / n times: max pooling over the group is unchanged).
    - ``"first"``: the authors' rule (their CUDA ``query_ball_point``): the first r points
      with ``|p - q|^2 < radius^2`` in index order, a ball holding fewer than r points
      padded with its first member. "Index order" is the support's :func:`canonical_rank`
      (reading order) rather than its storage order, so the group is a function of the
      points; on a lifted crop stored row by row the two orders nearly agree. In a ball
      holding many more than r points the members are its top rows only (of a 0.4 m ball,
      32 of several hundred points: a slab a few centimetres high), which is why it is not
      the default.

    Either rule depends on the points, not on their order, and is unchanged by translating
    both clouds (up to float rounding of the distances). A ball with no support point (a
    query far from the support) takes the query's nearest support point.

    One search at the largest radius serves every scale: a smaller ball is a prefix of the
    largest one sorted by distance.

    Args:
        query: (B, M, 3) ball centres.
        support: (B, N, 3) points to group.
        radii: one radius per scale (same unit as the coordinates: metres for lifted clouds).
        max_members: r per scale.
        backend: ``"auto"``, ``"torch"`` (compares all N distances of each query: the
            reference, any device), ``"open3d"`` (Open3D's fixed-radius search, CPU) or
            ``"scipy"`` (cKDTree pairs within the radius); both then sort the pairs in NumPy
            (:class:`SortedBalls`).
        members: ``"spread"`` or ``"first"`` (above).
    Returns:
        one (B, M, max_members[s]) long tensor of indices into N per scale.
    """
    if len(radii) != len(max_members) or not radii:
        raise ValueError("ball query needs one radius per group size")
    if min(radii) <= 0 or min(max_members) < 1:
        raise ValueError("ball radii and group sizes must be positive")
    if members not in BALL_MEMBERS:
        raise ValueError(f"ball members must be one of {', '.join(BALL_MEMBERS)}, "
                         f"got {members!r}")
    if backend == "auto":
        backend = _auto_ball_backend(query, support)
    if backend == "torch":
        return _ball_query_torch(query, support, radii, max_members, members)
    if backend in ("open3d", "scipy"):
        search = _ball_members_open3d if backend == "open3d" else _ball_members_scipy
        q = query.detach().cpu().numpy()
        s = support.detach().cpu().numpy()
        out = [np.empty(q.shape[:2] + (r,), dtype=np.int64) for r in max_members]
        ranks = canonical_rank(support.detach().cpu()).numpy()

        def one_part(b: int, rows: slice) -> None:  # the balls of queries q[b, rows]
            balls = search(q[b, rows], s[b], ranks[b], max(radii))
            for scale, (radius, r) in enumerate(zip(radii, max_members, strict=True)):
                out[scale][b, rows] = (balls.spread(radius, r) if members == "spread"
                                       else balls.first(radius, r))

        _run_parallel(one_part, _ball_parts(q.shape[0], q.shape[1]))
        return [torch.from_numpy(o).to(query.device) for o in out]
    raise ValueError(f"unknown ball query backend {backend!r}")


def _auto_ball_backend(query: torch.Tensor, support: torch.Tensor) -> str:
    # Measured with benchmarks/bench_model.py (BENCHMARKS.md, "Ball query"): on the CPU
    # Open3D's fixed-radius search wins at every module's size; on CUDA the sort of
    # all distances is one kernel.
    if query.device.type == "cpu" and o3d is not None:
        return "open3d"
    return "torch"


def _even_ranks(counts, r: int, xp=torch):
    """``round(i (n - 1) / (r - 1))`` for i in 0..r-1, in integers; counts (...,) -> (..., r).

    ``xp``: ``torch`` or ``numpy``, the library of ``counts``."""
    if r == 1:
        return counts[..., None] * 0
    i = xp.arange(r, device=counts.device) if xp is torch else xp.arange(r)
    return (2 * i * (counts[..., None] - 1) + (r - 1)) // (2 * (r - 1))


def _ball_query_torch(query, support, radii, max_members, members, chunk: int = 256):
    outs = [[] for _ in radii]
    n = support.shape[1]
    rank = canonical_rank(support)  # (B, N)
    by_rank = rank.argsort(dim=1)  # support index of each rank
    for q in query.split(chunk, dim=1):
        # Exact differences (no |q|^2 - 2 q.s + |s|^2 expansion): the radius test must agree
        # with the other backends away from the boundary.
        d2 = ((q.unsqueeze(2) - support.unsqueeze(1)) ** 2).sum(-1)  # (B, m, N) float32
        nearest = d2.argmin(dim=-1, keepdim=True)  # (B, m, 1)
        if members == "first":
            for scale, (radius, r) in enumerate(zip(radii, max_members, strict=True)):
                inside = d2 < torch.tensor(radius**2, dtype=torch.float32)
                key = torch.where(inside, rank.unsqueeze(1), n)  # outside: after every rank
                first = key.topk(min(r, n), dim=-1, largest=False, sorted=True).values
                if first.shape[-1] < r:  # fewer support points than members
                    first = torch.cat([first, first[..., :1].expand(*first.shape[:-1],
                                                                    r - n)], dim=-1)
                counts = inside.sum(-1, keepdim=True)
                slot = torch.arange(r, device=q.device)
                first = torch.where(slot < counts, first, first[..., :1])  # pad: 1st member
                picked = torch.gather(by_rank, 1, first.clamp(max=n - 1).flatten(1))
                outs[scale].append(torch.where(counts > 0, picked.view_as(first), nearest))
            continue
        # Sort by (distance, canonical rank) as one int64: non-negative float32 bits order
        # like the floats.
        key = (d2.view(torch.int32).long() << 32) | rank.unsqueeze(1)
        key = key.masked_fill(d2 > torch.tensor(max(radii) ** 2, dtype=torch.float32),
                              torch.iinfo(torch.int64).max)
        key = key.sort(dim=-1).values
        ranks = (key & 0xFFFFFFFF).clamp(max=n - 1)  # outside: never picked
        order = torch.gather(by_rank, 1, ranks.flatten(1)).view_as(key)
        sorted_d2 = (key >> 32).int().view(torch.float32)
        for scale, (radius, r) in enumerate(zip(radii, max_members, strict=True)):
            counts = (sorted_d2 <= torch.tensor(radius**2, dtype=torch.float32)).sum(-1)
            picked = torch.gather(order, 2, _even_ranks(counts.clamp(min=1), r))
            outs[scale].append(torch.where(counts[..., None] > 0, picked, nearest))
    return [torch.cat(o, dim=1) for o in outs]


def _ball_parts(num_clouds: int, num_queries: int) -> list[tuple[int, slice]]:
    """Independent pieces of a ball query for ``_run_parallel``: one per cloud, or, for a
    single cloud, its queries in as many slices as torch has threads."""
    if num_clouds > 1:
        return [(b, slice(None)) for b in range(num_clouds)]
    bounds = np.linspace(0, num_queries, min(torch.get_num_threads(), num_queries) + 1)
    return [(0, slice(int(a), int(b))) for a, b in zip(bounds[:-1], bounds[1:], strict=True)
            if b > a]


def _run_parallel(fn, parts) -> None:
    """``fn(*part)`` for every part, on a thread pool the size of torch's thread count: the
    NumPy and Open3D work releases the GIL, so a batch-1 forward on the CPU uses every core
    for its ball queries as torch does for its dense layers."""
    workers = min(len(parts), torch.get_num_threads())
    if workers <= 1:
        for part in parts:
            fn(*part)
        return
    if workers not in _POOLS:
        _POOLS[workers] = ThreadPoolExecutor(workers, thread_name_prefix="ognet-ball")
    for future in [_POOLS[workers].submit(fn, *part) for part in parts]:
        future.result()


_POOLS: dict[int, ThreadPoolExecutor] = {}  # thread pools by size, made on first use
os.register_at_fork(after_in_child=_POOLS.clear)  # a forked child has no threads


def _ball_members_open3d(query: np.ndarray, support: np.ndarray, rank: np.ndarray,
                         radius: float) -> SortedBalls:
    if o3d is None:
        raise RuntimeError("Open3D is not installed (backend='open3d')")
    nns = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor(np.ascontiguousarray(support)))
    # A hair wider than the radius: Open3D's own rounding must not drop a point that the
    # reference's test keeps; points beyond the radius sort last and are not counted.
    # Unsorted: Open3D's distances are not the reference's (nor its tie-break), so the
    # members are sorted again anyway, and its own sort took longer than the search
    # (BENCHMARKS.md, "Ball query").
    search_radius = radius * (1 + 1e-5)
    nns.fixed_radius_index(search_radius)
    members, _, splits = nns.fixed_radius_search(
        o3d.core.Tensor(np.ascontiguousarray(query)), search_radius, sort=False)
    return SortedBalls(query, support, rank, members.numpy(), np.diff(splits.numpy()))


def _ball_members_scipy(query: np.ndarray, support: np.ndarray, rank: np.ndarray,
                        radius: float) -> SortedBalls:
    if cKDTree is None:
        raise RuntimeError("scipy is not installed (backend='scipy')")
    pairs = cKDTree(query).sparse_distance_matrix(cKDTree(support), radius * (1 + 1e-5),
                                                  output_type="ndarray")
    by_query = np.argsort(pairs["i"], kind="stable")
    return SortedBalls(query, support, rank, pairs["j"][by_query],
                       np.bincount(pairs["i"], minlength=len(query)))


class SortedBalls:
    """One cloud's ball members, each ball sorted as the reference sorts it.

    Built from the pairs of a radius search grouped by query: ``members`` (P,) support
    indices, query 0's ``counts[0]`` first, then query 1's, ... Each ball is sorted by
    (float32 squared distance, computed as the reference computes it, then the support
    point's canonical rank). The query, the distance's bits and the rank are packed into one
    int64 ``key = i << (31 + b) | bits(d^2) << b | rank`` (b bits for the rank; non-negative
    float32 bits order like the floats), so one sort of the keys orders every ball at once,
    the rank in the low bits names the member (the ranks are a permutation of the support
    points), and the count within a smaller radius is a binary search in the sorted keys.
    Clouds too large to pack (``M N > 2^32``) sort by three keys instead.

    Args:
        query: (M, 3), support: (N, 3) float32; rank: (N,) the support's canonical rank;
        members: (P,) int; counts: (M,) int.
    """

    def __init__(self, query: np.ndarray, support: np.ndarray, rank: np.ndarray,
                 members: np.ndarray, counts: np.ndarray):
        self.query, self.support, self.rank = query, support, rank
        counts = counts.astype(np.int64)
        self.splits = np.concatenate([[0], np.cumsum(counts)])
        dist2 = _pair_dist2(query, support, members, counts)
        self.by_rank = np.argsort(rank)  # support index of each rank
        self.rank_bits = max(1, (len(support) - 1).bit_length())
        q_bits = max(1, (len(query) - 1).bit_length())
        if 31 + q_bits + self.rank_bits > 63:  # too large to pack: sort by three keys
            q = np.repeat(np.arange(len(query)), counts)
            order = np.lexsort((rank[members], dist2, q))
            self.members, self.dist2, self.keys = members[order], dist2[order], None
            return
        key = np.repeat(np.arange(len(query), dtype=np.int64) << (31 + self.rank_bits), counts)
        key |= dist2.view(np.int32).astype(np.int64) << self.rank_bits
        key |= rank[members]
        key.sort()  # the keys are distinct: no stability needed
        self.keys = key

    def counts_within(self, radius: float, strict: bool = False) -> np.ndarray:
        """(M,) members with ``d^2 <= float32(radius^2)`` per query (``d^2 <`` with
        ``strict``): a prefix of each ball."""
        bound = np.float32(radius**2)
        if self.keys is None:
            inside = self.dist2 < bound if strict else self.dist2 <= bound
            inside = np.concatenate([[0], np.cumsum(inside)])
            return inside[self.splits[1:]] - inside[self.splits[:-1]]
        last = (((np.arange(len(self.splits) - 1, dtype=np.int64) << 31)
                 | np.int64(bound.view(np.int32))) << self.rank_bits)
        if strict:  # the first key at d^2 = bound
            return np.searchsorted(self.keys, last, side="left") - self.splits[:-1]
        last |= (1 << self.rank_bits) - 1  # the last key at d^2 = bound
        return np.searchsorted(self.keys, last, side="right") - self.splits[:-1]

    def member(self, positions: np.ndarray) -> np.ndarray:
        """Support index of the pairs at ``positions`` in the sorted order."""
        if self.keys is None:
            return self.members[positions]
        return self.by_rank[self.keys[positions] & ((1 << self.rank_bits) - 1)]

    def spread(self, radius: float, r: int) -> np.ndarray:
        """The r members at evenly spaced ranks of each ball of ``radius`` (at most the
        searched radius): (M, r) int64 support indices; a query whose ball holds no point
        takes its nearest support point."""
        counts = self.counts_within(radius)
        found = counts > 0
        picked = np.empty((len(counts), r), dtype=np.int64)
        ranks = _even_ranks(counts[found], r, xp=np)
        picked[found] = self.member(self.splits[:-1][found, None] + ranks)
        return self._nearest_where_empty(picked, found)

    def first(self, radius: float, r: int) -> np.ndarray:
        """The authors' members: the r points of lowest canonical rank with ``d^2 <
        radius^2``, a ball of fewer padded with its first one. (M, r) int64 support indices;
        a query whose ball holds no point takes its nearest support point."""
        counts = self.counts_within(radius, strict=True)
        found = counts > 0
        starts = np.cumsum(counts) - counts  # each query's first in-ball pair, packed
        q = np.repeat(np.arange(len(counts)), counts)
        within = np.arange(len(q)) - starts[q]  # position inside its ball
        inside = self.member(self.splits[:-1][q] + within)
        inside = inside[np.lexsort((self.rank[inside], q))]  # each ball by rank
        picked = np.empty((len(counts), r), dtype=np.int64)
        picked[found] = inside[starts[found], None]  # padding: the first member
        keep = within < r
        picked[q[keep], within[keep]] = inside[keep]
        return self._nearest_where_empty(picked, found)

    def _nearest_where_empty(self, picked: np.ndarray, found: np.ndarray) -> np.ndarray:
        if not found.all():  # as the reference: the nearest support point (argmin d^2)
            d2 = ((self.query[~found, None] - self.support[None]) ** 2).sum(-1)
            picked[~found] = d2.argmin(1)[:, None]
        return picked


def _pair_dist2(query: np.ndarray, support: np.ndarray, members: np.ndarray,
                counts: np.ndarray) -> np.ndarray:
    """float32 ``|query_i - support_j|^2`` for the pairs grouped by query, bit for bit as the
    reference computes it (exact differences, summed x + y + z), one coordinate at a time:
    a sum over a trailing axis of 3 is several times slower in NumPy."""
    rows = np.repeat(np.ascontiguousarray(query.T), counts, axis=1)  # (3, P) query coords
    st = np.ascontiguousarray(support.T)
    d2 = np.square(rows[0] - st[0][members])
    for axis in (1, 2):
        d2 += np.square(rows[axis] - st[axis][members])
    return d2

# --------------------------------------------------------------------------------------------
# Grouping
# --------------------------------------------------------------------------------------------
def gather_points(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather rows of ``x`` per cloud.

    Args:
        x: (B, N, C)
        idx: (B, M) or (B, M, k) long indices into N.
    Returns:
        (B, M, C) or (B, M, k, C)

    Whole rows are copied with ``index_select`` on the (B N, C) view: ``torch.gather`` with an
    expanded index copies element by element and took 39% of OG-Net-Small's batch-1 forward
    on the CPU (torch.profiler; BENCHMARKS.md).
    """
    B, N, C = x.shape
    flat = idx.reshape(B, -1)
    if B > 1:  # row of point j of cloud b in the (B N, C) view
        flat = flat + torch.arange(0, B * N, N, device=idx.device)[:, None]
    return x.reshape(B * N, C).index_select(0, flat.reshape(-1)).view(*idx.shape, C)


def group(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Features of each point's group members.

    ``x`` (B, N, C), ``idx`` (B, M, r) -> (B, M, r, C).
    """
    return gather_points(x, idx)


def edge_index(idx: torch.Tensor, centers: torch.Tensor | None = None) -> torch.Tensor:
    """Turn one cloud's neighbour table into a PyG-style edge index.

    Args:
        idx: (M, k) neighbours j of each centre i.
        centers: (M,) index of each centre in the same numbering as ``idx``; default 0..M-1.
    Returns:
        (2, M*k) long, rows ``[source j, target i]``.
    """
    M, k = idx.shape
    if centers is None:
        centers = torch.arange(M, device=idx.device)
    return torch.stack([idx.reshape(-1), centers.repeat_interleave(k)])
