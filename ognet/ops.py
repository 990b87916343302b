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

Farthest point sampling starts, by default, at the point farthest from the centroid, a choice
made from the geometry alone, so that shuffling the input points does not change which points
are selected (nor their order). All backends agree exactly given the same start point (up to
ties in distance, which real clouds do not have).

Shapes: ``B`` clouds, ``N`` support points, ``M`` query / sampled points, ``D`` coordinates
(3 for xyz, more for the non-local graph on features), ``k`` neighbours.
"""

from __future__ import annotations

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


def farthest_point_sample(xyz: torch.Tensor, num_samples: int, start: torch.Tensor | None = None,
                          backend: str = "auto") -> torch.Tensor:
    """Farthest point sampling: iteratively pick the point farthest from those picked so far.

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
def knn(query: torch.Tensor, support: torch.Tensor, k: int, backend: str = "auto") -> torch.Tensor:
    """The ``k`` support points nearest to each query point (Euclidean), nearest first.

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
# Grouping
# --------------------------------------------------------------------------------------------
def gather_points(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather rows of ``x`` per cloud.

    Args:
        x: (B, N, C)
        idx: (B, M) or (B, M, k) long indices into N.
    Returns:
        (B, M, C) or (B, M, k, C)
    """
    B = x.shape[0]
    flat = idx.reshape(B, -1)
    out = torch.gather(x, 1, flat.unsqueeze(-1).expand(-1, -1, x.shape[-1]))
    return out.view(*idx.shape, x.shape[-1])


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
