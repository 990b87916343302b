"""Figures of explanations (``ognet.explain``) and what-if runs (``ognet.whatif``).

- :func:`contribution_figure`: query and match side by side in one 3D scene, every point
  coloured by its contribution to the similarity (diverging: red adds, blue takes away, white
  nothing; one symmetric scale for both clouds), the strongest point pairs joined by lines.
- :func:`parts_figure`: a waterfall of the parts and the bias that ends at the similarity.
- :func:`moves_figure`: where the original top-k went under a variation.
- :func:`yaw_figure`: the embedding's cosine to the original against the yaw angle.
"""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go

from viz.figures import (
    CAMERAS,
    FONT,
    SMALL_FONT,
    TEXT,
    TITLE_FONT,
    _layout,
    _segments,
    _xyz,
    colorbar,
)

#: Diverging scale: blue (takes away) - white (nothing) - red (adds).
DIVERGING = "RdBu_r"


GRID = "rgba(128,128,128,0.2)"
#: Width / height of the Explain tab's clouds plot, about (the page's CSS sizes it).
PLOT_ASPECT = 0.8


def camera_right(camera: str) -> np.ndarray:
    """(3,) unit vector pointing to the right of the picture a :data:`~viz.figures.CAMERAS`
    preset shows: ``forward x up`` with ``forward = -eye`` (the camera looks at the centre)."""
    c = CAMERAS[camera]
    forward = -np.array([c["eye"][k] for k in "xyz"], np.float64)
    right = np.cross(forward, [c["up"][k] for k in "xyz"])
    return right / np.linalg.norm(right)


def beside(a: np.ndarray, b: np.ndarray, camera: str, gap: float = 0.35) -> np.ndarray:
    """(3,) shift that puts cloud ``b`` (N, 3) right of cloud ``a`` as ``camera`` sees them.

    Both clouds are person-centred, so unshifted they overlap; shifted along x alone they
    still overlap in a three-quarter or side view (a background plane is wide in depth). The
    shift is along the picture's right vector :func:`camera_right` ``r``:
    ``(max(a r) - min(b r) + gap * w) r``, ``w`` the wider cloud's extent along ``r``, so
    the two projections are ``gap * w`` apart.
    """
    r = camera_right(camera)
    pa, pb = a @ r, b @ r
    width = max(np.ptp(pa), np.ptp(pb), 1e-3)
    return ((pa.max() - pb.min() + gap * width) * r).astype(np.float32)


def contribution_figure(explanation, point_size: float = 2.5, camera: str = "front",
                        height: int | None = None, show_pairs: bool = True) -> go.Figure:
    """The query (left) and the match's own cloud (right, set apart by :func:`beside` for
    ``camera``) coloured by contribution."""
    q = explanation.query
    sides = [("query", q, np.zeros(3, np.float32))]
    if explanation.match is not None:
        shift = beside(q.points[:, :3], explanation.match.points[:, :3], camera)
        sides.append(("match", explanation.match, shift))
    # per-point values are shares of one similarity: one symmetric range for both clouds,
    # at the 98th percentile of |share| so that a few extreme points do not wash out the rest
    vmax = float(np.quantile(np.abs(np.concatenate([s.point_contributions
                                                    for _, s, _ in sides])), 0.98)) or 1.0
    fig = go.Figure()
    for i, (name, side, shift) in enumerate(sides):
        xyz = side.points[:, :3] + shift
        fig.add_trace(go.Scatter3d(
            **_xyz(xyz), mode="markers", name=f"{name} ({len(xyz)} points)", showlegend=False,
            marker=dict(size=point_size, color=np.round(side.point_contributions, 6),
                        colorscale=DIVERGING, cmin=-vmax, cmax=vmax, cmid=0.0,
                        showscale=i == 0, colorbar=colorbar("share")),
            hovertemplate=f"{name}: %{{marker.color:.2e}}<extra></extra>"))
    if show_pairs and explanation.match is not None and explanation.pairs:
        shift = sides[1][2]
        qi = [i for i, _, _ in explanation.pairs]
        mj = [j for _, j, _ in explanation.pairs]
        a = q.last_xyz[qi]
        b = explanation.match.last_xyz[mj] + shift
        fig.add_trace(go.Scatter3d(**_segments(a, b), mode="lines",
                                   line=dict(width=4, color="#2ca02c"),
                                   name=f"strongest pairs ({len(qi)})", hoverinfo="skip"))
        ends = np.concatenate([a, b])
        fig.add_trace(go.Scatter3d(**_xyz(ends), mode="markers", showlegend=False,
                                   marker=dict(size=5, color="#2ca02c"), hoverinfo="skip"))
    title = (("the query (left) and match" if len(sides) == 2 else "the query for match")
             + f" #{explanation.rank}<br>similarity {explanation.similarity:.3f} · background "
             f"{explanation.parts['background']:+.3f}<br>red adds to it, blue takes away")
    fig = _layout(fig, camera, title, height)
    # The pair is wider than one person: the camera steps back until both fit a plot about
    # PLOT_ASPECT as wide as it is tall; the colour bar and the legend get strips of their own.
    xyz = np.concatenate([side.points[:, :3] + shift for _, side, shift in sides])
    up = np.array([CAMERAS[camera]["up"][k] for k in "xyz"], np.float64)
    across, tall = np.ptp(xyz @ camera_right(camera)), max(np.ptp(xyz @ up), 1e-3)
    back = max(1.0, across / (tall * PLOT_ASPECT))
    fig.update_layout(
        scene_camera=dict(eye={k: v * back for k, v in CAMERAS[camera]["eye"].items()},
                          up=CAMERAS[camera]["up"]),
        scene_domain=dict(x=[0.0, 0.84], y=[0.07, 1.0]),
        legend=dict(orientation="h", x=0.0, y=0.0, yanchor="bottom"))
    return fig


def _axes_layout(fig: go.Figure, title: str, height: int | None, margin: dict) -> go.Figure:
    """The 2D figures' common look: transparent, :data:`TEXT` everywhere, a small title;
    ``height`` None: the page's CSS sizes the plot."""
    fig.update_layout(
        height=height, margin=margin, showlegend=False,
        title=dict(text=title, x=0.02, font=dict(size=TITLE_FONT, color=TEXT)),
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        font=dict(color=TEXT, size=FONT))
    fig.update_xaxes(gridcolor=GRID, tickfont=dict(size=SMALL_FONT))
    fig.update_yaxes(gridcolor=GRID, tickfont=dict(size=SMALL_FONT))
    return fig


def parts_figure(explanation, height: int | None = None) -> go.Figure:
    """Waterfall: head, torso, arms, legs, feet, background (, unlabelled), bias -> similarity.

    Each bar carries its value, turned upright (:data:`SMALL_FONT` px, never shrunk to fit
    a narrow bar: Plotly's default scales such labels down to a few pixels); the y range
    leaves room for them above the highest bar and below the lowest.
    """
    names = list(explanation.parts) + ["bias"]
    values = [explanation.parts[n] for n in explanation.parts] + [explanation.bias]
    running = np.cumsum([0.0, *values])
    label_room = 0.3 * (running.max() - min(running.min(), 0.0))
    fig = go.Figure(go.Waterfall(
        x=[*names, "similarity"], y=[*values, 0.0],
        measure=["relative"] * len(values) + ["total"],
        text=[f"{v:+.3f}" for v in values] + [f"{explanation.similarity:.3f}"],
        textposition="outside", textangle=-90, constraintext="none", cliponaxis=False,
        textfont=dict(size=SMALL_FONT, color=TEXT),
        increasing=dict(marker=dict(color="#d6604d")),
        decreasing=dict(marker=dict(color="#4393c3")),
        totals=dict(marker=dict(color="#636363")),
        connector=dict(line=dict(color=TEXT, width=1)), name="parts"))
    _axes_layout(fig, f"parts + bias = {explanation.similarity:.4f}", height,
                 dict(l=50, r=10, t=34, b=10))
    fig.update_yaxes(title="cosine similarity", zeroline=True,
                     range=[min(running.min(), 0.0) - label_room, running.max() + label_room])
    return fig


def rank_rows(ranks: list[int], top: int) -> dict[int, int]:
    """Rows of the rank plot: rank ``r <= top`` on row ``r``; the ranks below, in order, on
    the rows after (``top + 1``, ``top + 2``, ...), so that every rank has its own row and
    no two labels share a line (a log axis piles ranks 24 and 28 onto one)."""
    below = sorted({r for r in ranks if r > top})
    rows = {r: r for r in ranks if r <= top}
    rows.update({r: top + 1 + i for i, r in enumerate(below)})
    return rows


def moves_figure(whatif, height: int | None = None) -> go.Figure:
    """Slope chart: each original top-k item from its old rank to its new one, with the new
    top-k's newcomers on the right. Ranks past the top-k get a row each, in order, labelled
    with the true rank (:func:`rank_rows`): the axis is ordinal there, not to scale."""
    fig = go.Figure()
    label = whatif.variation + ("" if whatif.value is None else f" = {whatif.value:g}")
    top = len(whatif.matches)
    old = {mv.index for mv in whatif.moves}
    new = [m for m in whatif.matches if m.index not in old]
    rows = rank_rows([mv.new_rank for mv in whatif.moves] + [m.rank for m in new]
                     + list(range(1, top + 1)), top)
    for mv in whatif.moves:
        colour = "#2ca02c" if mv.new_rank <= mv.old_rank else "#d62728"
        fig.add_trace(go.Scatter(
            x=["original", label], y=[rows[mv.old_rank], rows[mv.new_rank]],
            mode="lines+markers+text", line=dict(color=colour, width=2), marker=dict(size=9),
            text=["", f"pid {mv.pid}"], textposition="middle right",
            textfont=dict(size=SMALL_FONT), name=f"pid {mv.pid}",
            hovertemplate=(f"pid {mv.pid}: #{mv.old_rank} ({mv.old_similarity:.3f}) -> "
                           f"#{mv.new_rank} ({mv.new_similarity:.3f})<extra></extra>")))
    if new:
        fig.add_trace(go.Scatter(
            x=[label] * len(new), y=[rows[m.rank] for m in new], mode="markers+text",
            marker=dict(size=9, color="#1f77b4", symbol="star"),
            text=[f"new: pid {m.pid}" for m in new], textfont=dict(size=SMALL_FONT),
            textposition="middle right", name="new in the top-k"))
    _axes_layout(fig, f"{label} · cosine {whatif.cosine_to_original:.4f}", height,
                 dict(l=50, r=10, t=34, b=30))
    shown = sorted(rows, key=rows.get)
    fig.update_yaxes(title="rank", autorange="reversed", tickmode="array",
                     tickvals=[rows[r] for r in shown], ticktext=[f"#{r}" for r in shown])
    # room right of the second column for the labels (the axis is categorical: 0, 1)
    fig.update_xaxes(range=[-0.3, 1.9])
    return fig


def yaw_figure(angles: np.ndarray, cosines: np.ndarray, mirror: float | None = None,
               height: int | None = None) -> go.Figure:
    """The embedding's cosine to the original against the yaw angle (degrees)."""
    fig = go.Figure(go.Scatter(x=np.asarray(angles), y=np.round(cosines, 5),
                               mode="lines+markers", name="turned", line=dict(color="#1f77b4")))
    if mirror is not None:
        fig.add_hline(y=mirror, line=dict(color="#ff7f0e", dash="dash"),
                      annotation_text=f"mirrored: {mirror:.3f}", annotation_position="top left",
                      annotation_font=dict(color=TEXT, size=SMALL_FONT))
    _axes_layout(fig, "cosine to the original embedding vs yaw", height,
                 dict(l=50, r=10, t=34, b=40))
    fig.update_xaxes(title="yaw (degrees)", tickvals=list(range(-180, 181, 60)),
                     zeroline=False)
    fig.update_yaxes(title="cosine")
    return fig
