"""Plotly figures of ognet data: colored clouds, the fitted mesh, and OG-Net's layers.

Figures are sent to the browser as JSON: coordinates are float32 rounded to millimetres and
colours one ``rgb()`` string per point, so an 8192-point cloud stays well under 1 MB.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

#: Camera presets for the 3D views (frame: x right, y up, z towards the camera).
#: The eyes are in the units of the framed scene (:func:`frame_scene`: the longest side of
#: the data is 1), far enough that the whole cloud shows at any plot size.
CAMERAS = {
    "front": dict(eye=dict(x=0.0, y=0.08, z=1.55), up=dict(x=0, y=1, z=0)),
    "side": dict(eye=dict(x=1.55, y=0.08, z=0.0), up=dict(x=0, y=1, z=0)),
    "top": dict(eye=dict(x=0.0, y=1.6, z=0.05), up=dict(x=0, y=0, z=-1)),
    "three-quarter": dict(eye=dict(x=1.08, y=0.3, z=1.08), up=dict(x=0, y=1, z=0)),
}
GROUP_COLOURS = {8: "#e6194b", 16: "#3cb44b", 32: "#4363d8"}
#: Graph edges (seen on light and dark pages) and the chosen point's own edges.
EDGE_COLOUR, CHOSEN_COLOUR = "rgba(40,130,220,0.75)", "#d62728"


def _rgb_strings(rgb: np.ndarray) -> list[str]:
    c = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8)
    return [f"rgb({r},{g},{b})" for r, g, b in c]


def _xyz(points: np.ndarray) -> dict:
    p = np.round(np.asarray(points[:, :3], dtype=np.float32), 3)
    return dict(x=p[:, 0], y=p[:, 1], z=p[:, 2])


#: The figures' neutral text colour: a mid grey readable on light and dark pages. The page's
#: CSS (``ui.theme``) draws text of exactly this colour in the theme's own text colour, which a
#: figure cannot know (Plotly writes it as ``fill: rgb(138, 138, 138)``).
TEXT = "#8a8a8a"
#: :data:`TEXT` as Plotly writes it in an SVG text's style (``fill: rgb(...)``).
TEXT_FILL = "rgb({}, {}, {})".format(*(int(TEXT[i:i + 2], 16) for i in (1, 3, 5)))
#: Font sizes (px) of figure text, for a projector: nothing under 11 px at 1280x720.
FONT, SMALL_FONT, TITLE_FONT = 13, 12, 14
#: Height (px) of one line of a title above a 3D scene.
TITLE_LINE_PX = 20


def colorbar(title: str) -> dict:
    """A colour bar at the figure's right edge (the 3D figures have no margins) in the
    figures' text colour and sizes (Plotly's default template draws its labels dark blue,
    unreadable on a dark page)."""
    return dict(title=dict(text=title, side="right", font=dict(color=TEXT, size=FONT)),
                tickfont=dict(color=TEXT, size=SMALL_FONT), thickness=12, len=0.6,
                outlinewidth=0, x=1.0, xanchor="right")


def _layout(fig: go.Figure, camera: str, title: str | None = None, height: int | None = None):
    """No side margins; the title (``<br>`` for more lines) is an annotation in a top margin of
    :data:`TITLE_LINE_PX` per line (a layout title makes Gradio's plot replace the margins with
    Plotly's wide defaults); ``height`` None: the page's CSS sizes the plot."""
    lines = title.count("<br>") + 1 if title else 0
    fig.update_layout(
        height=height, margin=dict(l=0, r=0, t=lines * TITLE_LINE_PX, b=0), autosize=True,
        font=dict(color=TEXT, size=FONT),
        annotations=[dict(text=title, x=0.0, y=1.0, xref="paper", yref="paper",
                          xanchor="left", yanchor="bottom", align="left", showarrow=False,
                          font=dict(size=TITLE_FONT, color=TEXT))] if title else [],
        showlegend=True, legend=dict(x=0.0, y=0.0, bgcolor="rgba(0,0,0,0)", itemsizing="constant",
                                     font=dict(color=TEXT, size=FONT)),
        scene=dict(aspectmode="data", camera=CAMERAS[camera],
                   xaxis=dict(visible=False), yaxis=dict(visible=False),
                   zaxis=dict(visible=False)),
        uirevision=camera,  # a user's rotation survives a new query, not a new preset
        paper_bgcolor="rgba(0,0,0,0)",
    )
    return frame_scene(fig)


def hint_figure(text: str) -> go.Figure:
    """An empty plot that says what will appear in it: no axes, ``text`` (``<br>`` between
    lines: Plotly does not wrap) in its middle at :data:`TITLE_FONT`; sized by the page's CSS
    like the figure it stands for. A plot waiting for a query or a choice shows this, never
    an empty box."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       align="center", font=dict(size=TITLE_FONT + 1, color=TEXT))
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False), showlegend=False,
                      margin=dict(l=0, r=0, t=0, b=0), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def frame_scene(fig: go.Figure, pad: float = 0.03) -> go.Figure:
    """Fix the 3D scene's box to the bounds of every trace's points (``pad`` of the extent
    around them) with true proportions, its longest side 1.

    Plotly's ``aspectmode="data"`` scales the box so that its *volume* is 1: a flat cloud
    (the fallback lifting, a person seen from the front) gets a box taller than 2 and runs
    out of the view. With the longest side 1, the :data:`CAMERAS` frame any cloud.
    """
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for t in fig.data:
        if t.type not in ("scatter3d", "mesh3d") or t.x is None or len(t.x) == 0:
            continue
        xyz = np.stack([np.asarray(v, dtype=np.float64) for v in (t.x, t.y, t.z)], 1)
        if np.isfinite(xyz).any():
            lo = np.fmin(lo, np.nanmin(xyz, 0))
            hi = np.fmax(hi, np.nanmax(xyz, 0))
    if not np.isfinite(lo).all():
        return fig
    extent = np.maximum(hi - lo, 1e-3)
    lo, hi = lo - pad * extent.max(), hi + pad * extent.max()
    ratio = (hi - lo) / (hi - lo).max()
    fig.update_scenes(aspectmode="manual", aspectratio=dict(x=ratio[0], y=ratio[1], z=ratio[2]),
                      xaxis_range=[lo[0], hi[0]], yaxis_range=[lo[1], hi[1]],
                      zaxis_range=[lo[2], hi[2]])
    return fig


def module_rgb(trace, module: int) -> tuple[np.ndarray, np.ndarray]:
    """The photo colours (rgb in [0, 1]) of a module's input (N, 3) and output (M, 3) points,
    followed through every earlier module's farthest point sampling (``module`` 1..L)."""
    rgb = trace.points.numpy()[:, 3:6]
    for m in trace.modules[:module - 1]:
        if m.sampled_idx is not None:
            rgb = rgb[m.sampled_idx.numpy()]
    m = trace.modules[module - 1]
    return rgb, (rgb[m.sampled_idx.numpy()] if m.sampled_idx is not None else rgb)


def cloud_figure(points: np.ndarray, foreground: np.ndarray | None = None,
                 show_background: bool = True, mesh: tuple | None = None,
                 point_size: float = 2.0, camera: str = "front",
                 title: str | None = None, height: int | None = None) -> go.Figure:
    """The colored cloud (N, 6), true RGB per point.

    Args:
        foreground: (N,) bool; background points are dropped when ``show_background`` is off.
        mesh: ``(vertices (V, 3), faces (F, 3), colours (V, 3))`` to overlay the fitted body.
    """
    keep = np.ones(len(points), bool) if (show_background or foreground is None) else foreground
    pts = points[keep]
    fig = go.Figure(go.Scatter3d(**_xyz(pts), mode="markers", name=f"points ({len(pts)})",
                                 marker=dict(size=point_size, color=_rgb_strings(pts[:, 3:6])),
                                 hoverinfo="skip"))
    if mesh is not None:
        v, f, c = mesh
        v = np.round(np.asarray(v, np.float32), 3)
        fig.add_trace(go.Mesh3d(x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1],
                                k=f[:, 2], vertexcolor=_rgb_strings(c), opacity=0.5,
                                name="fitted body", showlegend=True, hoverinfo="skip"))
    return _layout(fig, camera, title, height)


def query_figure(result, show_background: bool = True, show_mesh: bool = False,
                 point_size: float = 2.0, camera: str = "front", title: str | None = None,
                 height: int | None = None) -> go.Figure:
    """:func:`cloud_figure` of an ``ognet.pipeline.QueryResult``: its cloud, its foreground
    and (``show_mesh``, photos only) the fitted body mesh."""
    mesh = None
    if show_mesh and result.lift is not None:
        lift = result.lift
        mesh = (lift.mesh_vertices, lift.mesh_faces, lift.vertex_colors)
    return cloud_figure(result.cloud, foreground=result.foreground,
                        show_background=show_background, mesh=mesh, point_size=point_size,
                        camera=camera, title=title, height=height)


def _sphere_outline(centre: np.ndarray, radius: float, steps: int = 48) -> dict:
    """Three great circles (xy, yz, zx planes) of a sphere as one Scatter3d trace."""
    t = np.linspace(0, 2 * np.pi, steps + 1)
    c, s, o = np.cos(t) * radius, np.sin(t) * radius, np.zeros_like(t)
    gap = np.full((1, 3), np.nan)
    rings = [np.stack(axes, 1) for axes in ((c, s, o), (o, c, s), (s, o, c))]
    xyz = np.round(np.concatenate([np.concatenate([r + centre, gap]) for r in rings]), 3)
    return dict(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])


def _segments(a: np.ndarray, b: np.ndarray) -> dict:
    """Line segments a[i] -> b[i] as one Scatter3d trace (None-separated)."""
    n = len(a)
    xyz = np.full((3 * n, 3), np.nan, dtype=np.float32)
    xyz[0::3], xyz[1::3] = a, b
    xyz = np.round(xyz, 3)
    return dict(x=xyz[:, 0], y=xyz[:, 1], z=xyz[:, 2])


def layer_figure(trace, module: int, view: str, point: int | None = None,
                 max_edges: int = 1500, point_size: float = 2.5, camera: str = "front",
                 height: int | None = None, colours: str = "rgb") -> go.Figure:
    """What OG-Net did at ``module`` (0 = the input cloud, 1..L = omni-scale modules).

    Args:
        trace: ``ognet.models.ModelTrace``.
        view: ``"sampled points"``, ``"knn graph"``, ``"groups"``, ``"non-local graph"`` or
            ``"feature norm"``.
        point: index into the module's *output* points (centre for graphs and groups).
        max_edges: the whole graph is thinned to this many edges for legibility.
        colours: ``"rgb"``: points in their photo colours (the context faded towards grey so
            the highlights stand out); ``"grey"``: context points grey.
    """
    points = trace.points.numpy()
    if module == 0:
        return cloud_figure(points, point_size=point_size, camera=camera,
                            title=f"input: {len(points)} points, xyz + rgb", height=height)
    m = trace.modules[module - 1]
    in_xyz, out_xyz = m.in_xyz.numpy(), m.out_xyz.numpy()
    point = 0 if point is None else int(np.clip(point, 0, len(out_xyz) - 1))
    fig = go.Figure()
    title = module_summary(m, module)
    in_rgb, out_rgb = module_rgb(trace, module)
    faded = dict(size=max(point_size, 2.0),
                 color=_rgb_strings(0.4 * in_rgb + 0.6 * 0.72) if colours == "rgb"
                 else "#c4c4c4")
    norms = m.feature_norm.numpy()

    if view == "sampled points":
        if m.sampled_idx is None:
            title += "<br>no sampling: every point kept"
        fig.add_trace(go.Scatter3d(**_xyz(in_xyz), mode="markers", marker=faded,
                                   name=f"module input ({len(in_xyz)})", hoverinfo="skip"))
        kept = _rgb_strings(out_rgb) if colours == "rgb" else "#ff7f0e"
        fig.add_trace(go.Scatter3d(**_xyz(out_xyz), mode="markers",
                                   marker=dict(size=point_size * 2.2, color=kept,
                                               line=dict(color="#ff7f0e", width=2)),
                                   name=f"kept by FPS ({len(out_xyz)})"))
    elif view in ("knn graph", "non-local graph"):
        edges = m.knn_edges if view == "knn graph" else m.nonlocal_edges
        if edges is None:
            title += "<br>the non-local graph is built in the last module only"
            edges = m.knn_edges
        e = edges.numpy()
        centre_in = _centre_in_input(m, point)
        # the points see-through, so that they do not hide the edges among them
        fig.add_trace(go.Scatter3d(**_xyz(in_xyz), mode="markers", marker=faded, opacity=0.4,
                                   name="points", hoverinfo="skip"))
        rng = np.random.default_rng(0)
        sample = rng.choice(e.shape[1], size=min(max_edges, e.shape[1]), replace=False)
        length = np.linalg.norm(in_xyz[e[0]] - in_xyz[e[1]], axis=1)
        fig.add_trace(go.Scatter3d(**_segments(in_xyz[e[1, sample]], in_xyz[e[0, sample]]),
                                   mode="lines", line=dict(width=2, color=EDGE_COLOUR),
                                   name=f"edges ({len(sample)} of {e.shape[1]})",
                                   hoverinfo="skip"))
        # the chosen point's edges, thick (their far ends are its neighbours: no markers
        # there, they would cover the short edges of a dense module); the point itself a
        # small dark diamond, which leaves most of each edge in view
        mine = e[:, (e[1] == centre_in) & (e[0] != centre_in)]
        fig.add_trace(go.Scatter3d(**_segments(in_xyz[mine[1]], in_xyz[mine[0]]), mode="lines",
                                   line=dict(width=6, color=CHOSEN_COLOUR),
                                   name=f"edges of point {point} to its {mine.shape[1]} "
                                        "neighbours"))
        fig.add_trace(go.Scatter3d(**_xyz(in_xyz[[centre_in]]), mode="markers",
                                   marker=dict(size=5, color="#111111", symbol="diamond",
                                               line=dict(color="white", width=1)),
                                   name="chosen point"))
        title += ("; " if "<br>" in title else "<br>") + (
            f"mean edge length {length.mean() * 100:.1f} cm")
    elif view == "groups":
        fig.add_trace(go.Scatter3d(**_xyz(in_xyz), mode="markers", marker=faded,
                                   name="points", hoverinfo="skip"))
        if not m.groups:
            title += "<br>no multi-scale groups: this module keeps its points"
        for r in sorted(m.groups, reverse=True):
            members = m.groups[r][point].numpy()
            colour = GROUP_COLOURS.get(r, "#911eb4")
            radius = m.group_radii.get(r)
            fig.add_trace(go.Scatter3d(**_xyz(in_xyz[members]), mode="markers",
                                       marker=dict(size=point_size * 2.2, color=colour),
                                       name=f"group r = {r}"))
            if radius:  # ball grouping: the ball the members were chosen in
                fig.add_trace(go.Scatter3d(**_sphere_outline(out_xyz[point], radius),
                                           mode="lines", line=dict(width=2, color=colour),
                                           name=f"ball r = {r}: {radius * 100:.0f} cm",
                                           hoverinfo="skip"))
        fig.add_trace(go.Scatter3d(**_xyz(out_xyz[[point]]), mode="markers",
                                   marker=dict(size=9, color="black", symbol="diamond"),
                                   name="centre"))
    else:  # feature norm
        fig.add_trace(go.Scatter3d(**_xyz(out_xyz), mode="markers", name="feature norm",
                                   marker=dict(size=point_size * 1.6, color=np.round(norms, 3),
                                               colorscale="Viridis", showscale=True,
                                               colorbar=colorbar("feature norm"))))
    return _layout(fig, camera, title, height)


def module_summary(m, module: int, channels: bool = True) -> str:
    """What a module (``ognet.models.ModuleTrace``) takes and keeps, in the words the Layers
    tab and the Walkthrough both use: ``module 4: 48 points in, 24 out; 48 -> 96 channels``
    (its graphs link the points in; farthest point sampling keeps the points out)."""
    line = f"module {module}: {len(m.in_xyz)} points in, {len(m.out_xyz)} out"
    return line + (f"; {m.in_channels} -> {m.out_channels} channels" if channels else "")


def _centre_in_input(m, point: int) -> int:
    """Index in the module's input of output point ``point``."""
    if m.sampled_idx is None:
        return point
    return int(m.sampled_idx[point])


def nearest_point(xyz: np.ndarray, target: np.ndarray) -> int:
    """Index of the row of ``xyz`` (N, 3) nearest to ``target`` (3,)."""
    return int(np.argmin(((xyz - target) ** 2).sum(1)))


#: Body landmarks offered as centres in the layer explorer (MediaPipe Pose indices).
LANDMARKS = {"head": 0, "left shoulder": 11, "right shoulder": 12, "left hand": 15,
             "right hand": 16, "left hip": 23, "right hip": 24, "left knee": 25,
             "right knee": 26, "left foot": 27, "right foot": 28}


def landmark_point(lift, cloud: np.ndarray, landmark: str, xyz: np.ndarray) -> int | None:
    """Row of ``xyz`` (a module's points) nearest to a body landmark of a lifted query.

    The landmark's crop pixel (``lift.landmarks_2d``) picks its lifted 3D point in ``cloud``
    (one point per pixel, row-major). ``None`` for a cloud file or the fallback lifting.
    """
    if lift is None or lift.landmarks_2d is None or landmark not in LANDMARKS:
        return None
    x, y = lift.landmarks_2d[LANDMARKS[landmark], :2]
    h, w = lift.foreground.shape
    col = int(np.clip(round(float(x)), 0, w - 1))
    row = int(np.clip(round(float(y)), 0, h - 1))
    return nearest_point(xyz, cloud[row * w + col, :3])


def layer_centre(result, module: int, centre: str, index) -> tuple[int, str]:
    """The point of ``module``'s output (0: the input cloud) the layer views centre on.

    ``centre`` is a body landmark of :data:`LANDMARKS` (its nearest point) or ``"by index"``
    (``index``, clipped). Returns ``(point, note)``; the note says which point it is and why
    the index was used when the query has no landmarks (a cloud file, the fallback lifting).
    """
    xyz = (result.trace.points.numpy()[:, :3] if module == 0
           else result.trace.modules[module - 1].out_xyz.numpy())
    point, note = None, ""
    if centre != "by index":
        point = landmark_point(result.lift, result.cloud, centre, xyz)
        if point is None:
            note = "No body landmarks for this query: the centre is chosen by index. "
    if point is None:
        point = int(np.clip(int(index or 0), 0, len(xyz) - 1))
    return point, note + f"centre: point {point} of {len(xyz)}"
