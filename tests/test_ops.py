"""Graph operations: every backend agrees with the pure-PyTorch reference."""

import pytest
import torch

from ognet import ops

BACKENDS = ops.available_backends()
#: Why a backend may be missing, for the skip message.
MISSING = {"cluster": "torch-cluster is not installed (scripts/setup.sh builds it for `make "
                      "test`, and for `make run` only where torch sees a GPU)"}


def skip_missing(backend: str) -> None:
    if not BACKENDS[backend]:
        pytest.skip(MISSING.get(backend, f"{backend} not installed"))


def _cloud(b=2, n=1000, d=3, seed=0):
    return torch.randn(b, n, d, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("backend", ["open3d", "cluster"])
def test_fps_backends_match_reference(backend):
    skip_missing(backend)
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
    skip_missing(backend)
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


# --------------------------------------------------------------------------------------------
# Ball query, on a real lifted cloud
# --------------------------------------------------------------------------------------------
RADII, SIZES = (0.1, 0.2, 0.4), (8, 16, 32)


@pytest.fixture(scope="module")
def lifted(repo_root):
    """The first module's input and centres for a lifted crop (the first real Market-1501
    query when ../shared is there, else the first example query): (1, 4096, 3) points and
    (1, 768, 3) FPS centres, in metres."""
    from conftest import REAL_QUERIES

    from ognet.lift import lift_image
    from ognet.pointcloud import sample_points

    crops = (sorted(REAL_QUERIES.glob("market1501_query_*.png"))
             + sorted((repo_root / "assets" / "examples").glob("*.jpg")))
    cloud = sample_points(lift_image(crops[0]).points, 4096)
    xyz = torch.from_numpy(cloud[:, :3]).float().unsqueeze(0)
    centres = ops.gather_points(xyz, ops.farthest_point_sample(xyz, 768))
    return xyz, centres


def _member_distances(centres, xyz, members):
    return (ops.group(xyz, members) - centres.unsqueeze(2)).norm(dim=-1)


@pytest.mark.parametrize("members", ops.BALL_MEMBERS)
@pytest.mark.parametrize("backend", ["open3d", "scipy"])
def test_ball_query_backends_match_reference(lifted, backend, members):
    skip_missing(backend)
    def assert_same_members(centres, xyz, a, b):
        # The same points, except where two points lie at the same distance from the centre
        # up to float rounding (libraries order such near-ties their own way).
        assert a.shape == b.shape
        differ = a != b
        assert differ.float().mean() < 1e-3
        d = (ops.group(xyz, a) - centres.unsqueeze(2)).norm(dim=-1)
        e = (ops.group(xyz, b) - centres.unsqueeze(2)).norm(dim=-1)
        assert torch.allclose(d, e, atol=1e-6)

    xyz, centres = lifted
    ref = ops.multi_scale_ball_query(centres, xyz, RADII, SIZES, "torch", members)
    got = ops.multi_scale_ball_query(centres, xyz, RADII, SIZES, backend, members)
    for a, b, r in zip(ref, got, SIZES, strict=True):
        assert a.shape == (1, 768, r)
        assert_same_members(centres, xyz, a, b)
    # Batched, and queries that are not support points.
    support, query = _cloud(n=600), _cloud(n=50, seed=5) * 0.8
    assert_same_members(query, support,
                        ops.ball_query(query, support, 0.5, 16, "torch", members),
                        ops.ball_query(query, support, 0.5, 16, backend, members))


def test_ball_members_lie_in_their_ball_and_spread_over_it(lifted):
    """On a lifted person the 0.4 m balls hold hundreds of points: the 32 members reach out to
    the edge of the ball, where the 32 nearest points stay within a few centimetres."""
    xyz, centres = lifted
    counts = [((centres[0, :, None] - xyz[0, None]).norm(dim=-1) <= r).sum(1) for r in RADII]
    assert counts[2].median() > 300  # the receptive field is really large
    groups = ops.multi_scale_ball_query(centres, xyz, RADII, SIZES)
    nearest = ops.knn(centres, xyz, 32)
    for members, radius, r, count in zip(groups, RADII, SIZES, counts, strict=True):
        d = _member_distances(centres, xyz, members)[0]
        assert (d <= radius + 1e-6).all()
        assert (d[:, 0] == 0).all()  # the centre itself is the nearest member
        full = count >= r  # balls that hold more points than the group size
        assert full.float().mean() > 0.9
        # distinct members, from the centre to the farthest point in the ball
        assert all(len(set(row.tolist())) == r for row in members[0, full])
        farthest_in_ball = torch.stack([
            (xyz[0, (xyz[0] - c).norm(dim=1) <= radius] - c).norm(dim=1).max()
            for c in centres[0, full]])
        assert torch.allclose(d[full].max(1).values, farthest_in_ball)
        assert d[full].mean() > 0.5 * radius
    assert _member_distances(centres, xyz, nearest)[0].max(1).values.median() < 0.1


def test_ball_query_pads_small_balls_by_repeating_members():
    support = torch.tensor([[[0.0, 0, 0], [0.05, 0, 0], [0.0, 0.08, 0], [1.0, 0, 0]]])
    query = torch.tensor([[[0.0, 0, 0], [3.0, 0, 0]]])
    for backend in [b for b in ("torch", "open3d", "scipy") if BACKENDS[b]]:
        members = ops.ball_query(query, support, 0.1, 8, backend=backend)
        # ranks round(i * 2 / 7) of the three points in the ball, nearest first
        assert members[0, 0].tolist() == [0, 0, 1, 1, 1, 1, 2, 2], backend
        assert members[0, 1].tolist() == [3] * 8, backend  # empty ball: the nearest point


@pytest.mark.parametrize("members", ops.BALL_MEMBERS)
def test_ball_query_is_order_and_translation_independent(lifted, members):
    xyz, centres = lifted
    perm = torch.randperm(xyz.shape[1], generator=torch.Generator().manual_seed(3))
    shift = torch.tensor([2.0, -1.0, 5.0])
    for backend in [b for b in ("torch", "open3d", "scipy") if BACKENDS[b]]:
        a = ops.multi_scale_ball_query(centres, xyz, RADII, SIZES, backend, members)
        b = ops.multi_scale_ball_query(centres, xyz[:, perm], RADII, SIZES, backend, members)
        c = ops.multi_scale_ball_query(centres + shift, xyz + shift, RADII, SIZES, backend,
                                       members)
        for ga, gb, gc, radius in zip(a, b, c, RADII, strict=True):
            assert torch.equal(ga, perm[gb]), backend  # the same points, in the same order
            # Translation moves coordinates by a float rounding: points at equal distance
            # (the background grid) may reorder, and a point lying on the sphere may cross
            # it (rarely). In every ball that holds the same number of points, the members
            # lie at the same distances.
            da = _member_distances(centres, xyz, ga)
            dc = _member_distances(centres + shift, xyz + shift, gc)
            same = _ball_counts(centres, xyz, radius) == _ball_counts(centres + shift,
                                                                      xyz + shift, radius)
            assert same.float().mean() > 0.99
            assert (da - dc)[same].abs().max() < 1e-5, backend


def _ball_counts(centres, xyz, radius):
    return (((centres[0, :, None] - xyz[0, None]) ** 2).sum(-1) <= radius**2).sum(1)[None]


def test_first_members_are_the_authors_rule(lifted):
    """``members="first"``: the first r points of the ball (|p - q| < radius) in canonical
    order, a smaller ball padded with its first member, as the authors' CUDA kernel does
    with the storage order."""
    xyz, centres = lifted
    rank = ops.canonical_rank(xyz)[0]
    groups = ops.multi_scale_ball_query(centres, xyz, RADII, SIZES, members="first")
    for g, radius, r in zip(groups, RADII, SIZES, strict=True):
        for i in range(0, centres.shape[1], 97):
            d2 = ((xyz[0] - centres[0, i]) ** 2).sum(-1)
            inside = torch.nonzero(d2 < radius**2)[:, 0]
            expected = inside[rank[inside].argsort()][:r].tolist()
            expected += expected[:1] * (r - len(expected))
            assert g[0, i].tolist() == expected
    # the rule in small: reading order is top (largest y) first, then left to right
    support = torch.tensor([[[0.0, 0, 0], [0.05, 0, 0], [0.0, 0.08, 0], [1.0, 0, 0],
                             [0.1, 0, 0]]])  # the last one on the sphere: not a member
    query = torch.tensor([[[0.0, 0, 0], [3.0, 0, 0]]])
    for backend in [b for b in ("torch", "open3d", "scipy") if BACKENDS[b]]:
        members = ops.ball_query(query, support, 0.1, 5, backend=backend, members="first")
        assert members[0].tolist() == [[2, 0, 1, 2, 2], [3] * 5], backend
        two = ops.ball_query(query, support, 0.1, 2, backend=backend, members="first")
        assert two[0].tolist() == [[2, 0], [3, 3]], backend
    # more members than support points: padded the same way
    assert ops.ball_query(query, support[:, :2], 0.1, 4, backend="torch",
                          members="first")[0].tolist() == [[0, 1, 0, 0], [1] * 4]


def test_canonical_order_is_a_function_of_the_values():
    """Shuffled rows, ties in every key and exact duplicates: the sorted cloud is the same
    tensor, and the order is the NumPy sampler's (``canonical_rows``)."""
    from ognet.pointcloud import canonical_rows

    g = torch.Generator().manual_seed(0)
    grid = torch.randint(0, 3, (1, 300, 6), generator=g).float()  # ties everywhere
    grid[0, 200:] = grid[0, :100]  # and exact duplicates
    perm = torch.randperm(300, generator=g)
    a = ops.gather_points(grid, ops.canonical_order(grid))
    b = ops.gather_points(grid[:, perm], ops.canonical_order(grid[:, perm]))
    assert torch.equal(a, b)
    keys = torch.stack([-a[0, :, 1], a[0, :, 0], a[0, :, 2]], 1)
    assert all(tuple(keys[i]) <= tuple(keys[i + 1]) for i in range(299))  # reading order
    assert torch.equal(ops.canonical_order(grid)[0],
                       torch.from_numpy(canonical_rows(grid[0].numpy())))
    assert torch.equal(ops.canonical_rank(grid)[0, ops.canonical_order(grid)[0]],
                       torch.arange(300))


def test_distances_stay_float32_under_autocast():
    """Mixed precision must not reach the graph: under bfloat16 autocast a matmul of
    coordinates would run in 8 bits of mantissa and reorder neighbours."""
    x = _cloud(b=2, n=400, d=35)
    xyz = _cloud(b=1, n=600)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        graph = ops.knn_graph(x, 20, backend="torch")
        fps = ops.farthest_point_sample(xyz, 64, backend="torch")
        balls = ops.multi_scale_ball_query(xyz[:, fps[0]], xyz, RADII, SIZES, backend="torch")
    assert torch.equal(graph, ops.knn_graph(x, 20, backend="torch"))
    assert torch.equal(fps, ops.farthest_point_sample(xyz, 64, backend="torch"))
    for got, ref in zip(balls, ops.multi_scale_ball_query(xyz[:, fps[0]], xyz, RADII, SIZES,
                                                          backend="torch"), strict=True):
        assert torch.equal(got, ref)
    # bfloat16 inputs (a model cast to bf16) are measured in float32 too
    assert torch.equal(ops.knn_graph(x.bfloat16(), 20, backend="torch"),
                       ops.knn_graph(x.bfloat16().float(), 20, backend="torch"))


def test_ball_query_rejects_bad_arguments():
    x = _cloud(b=1, n=10)
    with pytest.raises(ValueError, match="one radius per group size"):
        ops.multi_scale_ball_query(x, x, (0.1, 0.2), (8,))
    with pytest.raises(ValueError, match="positive"):
        ops.ball_query(x, x, 0.0, 8)
    with pytest.raises(ValueError, match="unknown ball query backend"):
        ops.ball_query(x, x, 0.1, 8, backend="faiss")
    with pytest.raises(ValueError, match="ball members must be one of spread, first"):
        ops.ball_query(x, x, 0.1, 8, members="last")
