"""Figure builders of ``viz``: compact JSON for 8192 points, every layer view renders."""

import json

import numpy as np
import pytest
import torch

import viz
from ognet import create_model


def person_cloud(n: int = 8192, seed: int = 0) -> np.ndarray:
    """A person-sized (N, 6) cloud: xyz in metres (1.7 m tall), rgb in [0, 1]."""
    rng = np.random.default_rng(seed)
    xyz = rng.normal(size=(n, 3)) * [0.2, 0.45, 0.08]
    rgb = rng.random((n, 3))
    return np.concatenate([xyz, rgb], 1).astype(np.float32)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return create_model("ognet_small", num_points=2048, stage_points=[384, 192, 96, 48]).eval()


@pytest.fixture(scope="module")
def trace(model):
    return model.trace(torch.from_numpy(person_cloud(2048, seed=1)))


@pytest.fixture(scope="module")
def last_module_input(model, trace) -> np.ndarray:
    """(N, 3 + C) ``[xyz, features]`` that the last module got (caught by a hook): the space
    its non-local graph is built in."""
    caught = {}
    hook = model.blocks[-1].register_forward_pre_hook(
        lambda _m, args: caught.__setitem__("in", args))
    try:
        with torch.no_grad():
            model.forward_features(trace.points[None])
    finally:
        hook.remove()
    xyz, h = caught["in"][:2]
    return torch.cat([xyz[0], h[0]], dim=-1).numpy()


def figure_bytes(fig) -> int:
    return len(fig.to_json().encode())


def test_cloud_figure_true_rgb_and_under_1mb():
    cloud = person_cloud()
    fig = viz.cloud_figure(cloud)
    size = figure_bytes(fig)
    assert size < 1_000_000, f"{size} bytes for 8192 points"
    scatter = fig.data[0]
    assert len(scatter.x) == 8192
    c = (np.clip(cloud[0, 3:6], 0, 1) * 255 + 0.5).astype(int)
    assert scatter.marker.color[0] == f"rgb({c[0]},{c[1]},{c[2]})"
    # coordinates are sent rounded to millimetres
    assert np.allclose(np.asarray(scatter.x, float), cloud[:, 0], atol=6e-4)


def test_cloud_figure_background_toggle_and_mesh():
    cloud = person_cloud()
    fg = np.zeros(8192, bool)
    fg[:3000] = True
    fig = viz.cloud_figure(cloud, foreground=fg, show_background=False)
    assert len(fig.data[0].x) == 3000
    verts = person_cloud(100)[:, :3]
    faces = np.array([[0, 1, 2], [2, 3, 4]])
    fig = viz.cloud_figure(cloud, mesh=(verts, faces, np.full((100, 3), 0.5)), camera="side")
    assert [t.type for t in fig.data] == ["scatter3d", "mesh3d"]
    assert fig.layout.scene.camera.eye.x == viz.CAMERAS["side"]["eye"]["x"]
    assert figure_bytes(fig) < 1_000_000


@pytest.mark.parametrize("view", ["sampled points", "knn graph", "groups", "non-local graph",
                                  "feature norm"])
def test_layer_views_render_every_module(trace, view):
    for module in range(len(trace.modules) + 1):
        fig = viz.layer_figure(trace, module, view, point=3)
        assert json.loads(fig.to_json())["data"], (view, module)
        data = fig.data
        assert figure_bytes(fig) < 1_000_000
        if module == 0:
            continue
        m = trace.modules[module - 1]
        names = [t.name or "" for t in data]
        if view == "sampled points":
            assert any(f"({len(m.out_xyz)})" in n for n in names)
        if view == "groups":
            for r in m.groups:
                group = next(t for t in data if t.name == f"group r = {r}")
                assert len(group.x) == r
        if view == "feature norm":
            assert len(data[0].marker.color) == len(m.out_xyz)


def test_nonlocal_graph_is_the_last_modules(trace):
    last = len(trace.modules)
    # The title is an annotation above the scene (see viz.figures._layout).
    fig = viz.layer_figure(trace, last, "non-local graph", point=0)
    assert "built in the last module only" not in fig.layout.annotations[0].text
    fig = viz.layer_figure(trace, 1, "non-local graph", point=0)
    assert "built in the last module only" in fig.layout.annotations[0].text


@pytest.mark.parametrize("view", ["knn graph", "non-local graph"])
def test_graph_views_draw_each_points_nearest_neighbours(model, trace, last_module_input, view):
    """The chosen point's edges go to its k nearest points, found here by SciPy's k-d tree:
    in xyz (every module's KNN graph; the non-local view before the last module shows it
    too), in ``[xyz, features]`` for the last module's non-local graph; the graph's other
    edges are a sample of all N k."""
    from scipy.spatial import cKDTree

    k, last = model.config.k, len(trace.modules)
    for module, m in enumerate(trace.modules, start=1):
        in_xyz = m.in_xyz.numpy()
        space = last_module_input if view == "non-local graph" and module == last else in_xyz
        for point in (0, 5):
            centre = point if m.sampled_idx is None else int(m.sampled_idx[point])
            _, nearest = cKDTree(space).query(space[centre], k=k)
            fig = viz.layer_figure(trace, module, view, point=point)
            mine = next(t for t in fig.data if t.name == f"edges of point {point}")
            ends = np.stack([mine.x, mine.y, mine.z], axis=1).astype(float)
            np.testing.assert_allclose(ends[0::3], np.repeat(in_xyz[[centre]], k, axis=0),
                                       atol=6e-4)
            drawn, want = ends[1::3], in_xyz[nearest]
            gap = np.linalg.norm(drawn[:, None] - want[None], axis=2)
            assert len(drawn) == k and gap.min(axis=1).max() < 1e-3 \
                and gap.min(axis=0).max() < 1e-3, (view, module, point)
            n_edges = len(in_xyz) * k
            assert any(t.name == f"edges ({min(1500, n_edges)} of {n_edges})"
                       for t in fig.data)


def test_overlay_and_frame():
    img = np.random.default_rng(0).integers(0, 255, (128, 64, 3), dtype=np.uint8)
    fg = np.zeros((128, 64), bool)
    fg[20:100, 20:44] = True
    lm = np.zeros((33, 3))
    lm[:, 0], lm[:, 1], lm[:, 2] = 32, np.linspace(10, 120, 33), 1.0
    out = viz.lifting_overlay(img, fg.astype(float), fg, lm)
    assert out.size == (256, 512)
    framed = np.asarray(viz.framed(img, (30, 170, 60)))
    assert (framed[0, :, 1] == 170).all() and (framed[:, 0, 0] == 30).all()


def test_landmark_point_picks_the_nearest_cloud_point():
    class Lift:
        landmarks_2d = np.zeros((33, 3))
        foreground = np.zeros((128, 64), bool)

    Lift.landmarks_2d[0] = [10, 20, 1]  # head at column 10, row 20
    cloud = person_cloud()
    xyz = cloud[::7, :3]
    i = viz.landmark_point(Lift, cloud, "head", xyz)
    target = cloud[20 * 64 + 10, :3]
    assert i == int(np.argmin(((xyz - target) ** 2).sum(1)))
    assert viz.landmark_point(None, cloud, "head", xyz) is None
