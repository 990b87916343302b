"""Graph operations: every backend agrees with the pure-PyTorch reference."""

import pytest
import torch

from ognet import ops

BACKENDS = ops.available_backends()


def _cloud(b=2, n=1000, d=3, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", ["open3d", "cluster"])
def test_fps_backends_match_reference(backend):
    if not BACKENDS[backend]:
        pytest.skip(f"{backend} not installed")
    xyz = _cloud()
    start = torch.tensor([5, 17])
    ref = ops.farthest_point_sample(xyz, 128, start=start, backend="torch")
    got = ops.farthest_point_sample(xyz, 128, start=start, backend=backend)
    assert torch.equal(ref, got)


def test_fps_spreads_points_and_starts_far_from_centroid():
    xyz = _cloud(b=1, n=2000)
    idx = ops.farthest_point_sample(xyz, 64, backend="torch")
    assert idx.shape == (1, 64) and len(set(idx[0].tolist())) == 64
    assert ops.farthest_from_centroid(xyz)[0].item() in idx[0].tolist()
    picked = xyz[0, idx[0]]
    # FPS points are far better spread than the first 64 points of the cloud.
    nearest = lambda p: torch.cdist(p, p).fill_diagonal_(float("inf")).min(1).values.mean()  # noqa: E731
    assert nearest(picked) > 1.5 * nearest(xyz[0, :64])


def test_fps_is_order_independent():
    xyz = _cloud(b=1, n=1500)
    perm = torch.randperm(1500, generator=torch.Generator().manual_seed(1))
    a = ops.farthest_point_sample(xyz, 200)
    b = ops.farthest_point_sample(xyz[:, perm], 200)
    assert torch.equal(xyz[0, a[0]].sort(0).values, xyz[0, perm][b[0]].sort(0).values)


@pytest.mark.parametrize("backend", ["scipy", "cluster"])
@pytest.mark.parametrize("dim", [3, 35])
def test_knn_backends_match_reference(backend, dim):
    if not BACKENDS[backend]:
        pytest.skip(f"{backend} not installed")
    if backend == "scipy" and dim != 3:
        dim = 3
    support, query = _cloud(n=800, d=dim), _cloud(n=300, d=dim, seed=3)
    ref = ops.knn(query, support, 16, backend="torch")
    got = ops.knn(query, support, 16, backend=backend)
    assert got.shape == (2, 300, 16)
    assert torch.equal(ref, got)  # same neighbours, nearest first


def test_knn_graph_contains_self_and_is_sorted():
    x = _cloud(n=500)
    idx = ops.knn_graph(x, 10, backend="torch")
    assert torch.equal(idx[:, :, 0], torch.arange(500).expand(2, 500))
    d = (x.unsqueeze(2) - ops.group(x, idx)).norm(dim=-1)
    assert (d[..., 1:] >= d[..., :-1]).all()


def test_knn_graph_is_translation_invariant():
    x = _cloud(n=2048)
    shifted = x + torch.tensor([3.0, -1.5, 10.0])
    for backend in ("torch", "scipy"):
        # The graph is the set of edges: each point's neighbour set must be the same.
        a = ops.knn_graph(x, 20, backend=backend).sort(dim=-1).values
        b = ops.knn_graph(shifted, 20, backend=backend).sort(dim=-1).values
        assert torch.equal(a, b)


def test_group_and_edge_index():
    x = torch.arange(12.0).view(1, 6, 2)
    idx = torch.tensor([[[0, 1], [5, 4]]])
    assert ops.group(x, idx).tolist() == [[[[0, 1], [2, 3]], [[10, 11], [8, 9]]]]
    assert ops.edge_index(idx[0]).tolist() == [[0, 1, 5, 4], [0, 0, 1, 1]]
