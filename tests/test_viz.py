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
            mine = next(t for t in fig.data
                        if (t.name or "").startswith(f"edges of point {point} "))
            ends = np.stack([mine.x, mine.y, mine.z], axis=1).astype(float)
            want = in_xyz[[n for n in nearest if n != centre]]  # the self-loop is not drawn
            np.testing.assert_allclose(ends[0::3], np.repeat(in_xyz[[centre]], len(want),
                                                             axis=0), atol=6e-4)
            drawn = ends[1::3]
            gap = np.linalg.norm(drawn[:, None] - want[None], axis=2)
            assert len(drawn) == len(want) and gap.min(axis=1).max() < 1e-3 \
                and gap.min(axis=0).max() < 1e-3, (view, module, point)
            n_edges = len(in_xyz) * k
            assert any(t.name == f"edges ({min(1500, n_edges)} of {n_edges})"
                       for t in fig.data)


def test_knn_edges_of_chosen_point(trace):
    """The chosen point's edges (its self-loop, of length 0, left out) are drawn thick; the
    point itself is a small marker of another colour, so that it does not cover them; the
    points are see-through and the whole graph's edges are not faint."""
    m = trace.modules[1]
    fig = viz.layer_figure(trace, 2, "knn graph", point=5)
    centre = int(m.sampled_idx[5])
    neighbours = m.knn_edges[0][m.knn_edges[1] == centre]
    k = int((neighbours != centre).sum())
    assert k == m.knn_edges.shape[1] // len(m.in_xyz) - 1
    mine = next(t for t in fig.data if t.name == f"edges of point 5 to its {k} neighbours")
    assert len(mine.x) == 3 * k  # a None-separated segment per edge
    assert mine.line.width >= 4
    chosen = fig.data[-1]
    assert chosen.name == "chosen point" and chosen.marker.size <= 6
    assert chosen.marker.color != mine.line.color
    points = next(t for t in fig.data if t.name == "points")
    assert points.opacity < 1  # see-through: the edges among them show
    graph = next(t for t in fig.data if (t.name or "").startswith("edges ("))
    alpha = float(graph.line.color.rsplit(",", 1)[1].rstrip(")"))
    assert graph.line.width >= 2 and alpha >= 0.6, graph.line


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


def test_overlay_draws_mask_body_and_lifted_pixels_each_from_its_own_array():
    """Three different regions: the mask's outline is blue just outside the mask, the body's
    yellow just inside the body (its outline, not a fill), the lifted pixels keep their
    colour and the rest is darkened to grey. An overlay drawing the body's outline from the
    foreground (or the mask from the body) puts its colour where this one has none."""
    from viz.overlay import OVERLAY_COLOURS

    img = np.full((128, 64, 3), (200, 80, 40), np.uint8)
    mask = np.zeros((128, 64))
    mask[10:120, 8:56] = 0.9
    body = np.zeros((128, 64), bool)
    body[30:90, 24:40] = True
    fg = np.zeros((128, 64), bool)
    fg[20:110, 14:50] = True
    s, line = 4, 3
    out = np.asarray(viz.lifting_overlay(img, mask, fg, None, body=body, scale=s, line=line))
    assert out.shape == (512, 256, 3)
    blue, yellow = np.array(OVERLAY_COLOURS["mask"]), np.array(OVERLAY_COLOURS["body"])

    def at(row, col):  # the enlarged picture's pixel at crop pixel (row, col)'s top-left
        return out[row * s, col * s]

    # the mask: outlined just outside its edge (left edge at column 8), not inside it
    assert (out[60 * s, 8 * s - line:8 * s] == blue).all()
    assert not (out[60 * s, 8 * s:8 * s + line] == blue).all(-1).any()
    # the body: outlined just inside its edge (left edge at column 24), hollow inside
    assert (out[60 * s, 24 * s:24 * s + line] == yellow).all()
    assert not (at(60, 32) == yellow).all() and (at(60, 32) == img[60, 32]).all()
    # the foreground's edge (column 14, away from the body) carries no outline
    for col in (14 * s - 1, 14 * s, 14 * s + 1):
        assert not (out[60 * s, col] == yellow).all() and not (out[60 * s, col] == blue).all()
    # lifted pixels keep their colour; the background is darker and grey
    assert (at(60, 16) == img[60, 16]).all()
    bg = at(60, 10).astype(int)
    assert bg[0] == bg[1] == bg[2] and bg[0] < img[60, 10].mean()
    assert (at(60, 2) == at(60, 10)).all()  # outside the mask too: background
    # None mask / body: nothing outlined
    bare = np.asarray(viz.lifting_overlay(img, None, fg, None))
    assert not (bare == blue).all(-1).any() and not (bare == yellow).all(-1).any()


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


def test_turntable_gif_turns_the_cloud_once(tmp_path):
    """The turntable is a looping GIF of N frames of the asked size; consecutive frames differ
    and the cloud turns about its vertical axis: the person-shaped cloud (wide across, thin in
    depth) is wide at 0 and 180 degrees, narrow at 90 and 270."""
    from PIL import Image, ImageSequence

    from viz.turntable import save_turntable

    path = save_turntable(person_cloud(4096), tmp_path / "turn.gif", frames=12, size=(160, 200),
                          background="white")
    with Image.open(path) as im:
        assert im.format == "GIF" and im.is_animated and im.info.get("loop") == 0
        assert im.n_frames == 12 and im.size == (160, 200)
        frames = [np.asarray(f.convert("RGB"), dtype=np.int16) for f in ImageSequence.Iterator(im)]
    for a, b in zip(frames, frames[1:] + frames[:1], strict=True):
        assert np.abs(a - b).mean() > 1.0, "two consecutive frames are the same"

    def width(frame) -> int:  # columns holding any point (not the white background)
        return int(((frame < 235).any(axis=2).any(axis=0)).sum())

    widths = [width(f) for f in frames]  # frame i: 30 i degrees
    assert min(widths[0], widths[6]) > 1.6 * max(widths[3], widths[9]), widths


def test_turntable_refuses_what_is_not_a_cloud():
    from viz.turntable import turntable_frames

    with pytest.raises(ValueError, match="N, 6"):
        turntable_frames(np.zeros((0, 6), np.float32))
    with pytest.raises(ValueError, match="N, 6"):
        turntable_frames(np.zeros((10, 3), np.float32))


@pytest.mark.parametrize("camera", list(viz.CAMERAS))
def test_explained_clouds_stand_apart_as_the_camera_sees_them(camera):
    """beside() shifts the match along the picture's right vector: projected on it, the two
    clouds are a gap apart, for every camera preset (an x shift alone leaves a three-quarter
    or side view overlapping)."""
    from viz.explain import beside, camera_right

    a = person_cloud(2048, seed=1)[:, :3]
    b = person_cloud(2048, seed=2)[:, :3]
    shift = beside(a, b, camera)
    r = camera_right(camera)
    eye = np.array([viz.CAMERAS[camera]["eye"][k] for k in "xyz"])
    assert abs(r @ eye) < 1e-9  # across the line of sight
    gap = (b + shift) @ r
    assert gap.min() - (a @ r).max() > 0.3 * np.ptp(a @ r)


def test_rank_rows_give_every_rank_its_own_row():
    """The rank plot's rows: the top-k on rows 1..k, ranks past it in order on the rows after,
    so that ranks 24 and 28 (which a log axis draws 7 px apart) get a row each."""
    from viz.explain import rank_rows

    rows = rank_rows([24, 63, 28, 6, 180, 1, 2, 3, 4, 5], top=5)
    assert [rows[r] for r in (1, 2, 3, 4, 5)] == [1, 2, 3, 4, 5]
    assert [rows[r] for r in (6, 24, 28, 63, 180)] == [6, 7, 8, 9, 10]
    assert len(set(rows.values())) == len(rows)


def test_walkthrough_and_layers_say_the_same_point_counts(trace):
    """The walkthrough's step of the last module and the Layers tab's title of that module
    name the same counts: the points it takes (its graph's) and the points it keeps."""
    from viz.walkthrough import walkthrough_steps

    last = len(trace.modules)
    m = trace.modules[-1]
    said = f"module {last}: {len(m.in_xyz)} points in, {len(m.out_xyz)} out"
    caption = walkthrough_steps(trace)[-1]["caption"]
    title = viz.layer_figure(trace, last, "non-local graph", point=0).layout.annotations[0].text
    assert said in caption and title.startswith(said), (caption, title)


def test_hint_figure_says_what_will_show_without_axes():
    fig = viz.hint_figure("Pick a match:<br>its cloud shows here.")
    assert len(fig.data) == 0
    note = fig.layout.annotations[0]
    assert note.text.startswith("Pick a match") and note.font.size >= 12
    assert fig.layout.xaxis.visible is False and fig.layout.yaxis.visible is False
    assert fig.layout.height is None  # the page sizes it like the figure it stands for
