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

from viz.figures import TEXT, _layout, _segments, _xyz

#: Diverging scale: blue (takes away) - white (nothing) - red (adds).
DIVERGING = "RdBu_r"


def _gap(a: np.ndarray, b: np.ndarray, margin: float = 0.25) -> float:
    """x shift that puts cloud b to the right of cloud a with ``margin`` metres between."""
    return float(a[:, 0].max() - b[:, 0].min() + margin)


def contribution_figure(explanation, point_size: float = 2.5, camera: str = "front",
                        height: int | None = None, show_pairs: bool = True) -> go.Figure:
    """The query (left) and the match's own cloud (right) coloured by contribution."""
    q = explanation.query
    sides = [("query", q, np.zeros(3, np.float32))]
    if explanation.match is not None:
        shift = np.array([_gap(q.points, explanation.match.points), 0, 0], np.float32)
        sides.append(("match", explanation.match, shift))
    # per-point values are shares of one similarity: one symmetric range for both clouds,
    # at the 98th percentile of |share| so that a few extreme points do not wash out the rest
    vmax = float(np.quantile(np.abs(np.concatenate([s.point_contributions
                                                    for _, s, _ in sides])), 0.98)) or 1.0
    fig = go.Figure()
    for i, (name, side, shift) in enumerate(sides):
        xyz = side.points[:, :3] + shift
        fig.add_trace(go.Scatter3d(
            **_xyz(xyz), mode="markers", name=f"{name} ({len(xyz)} points)",
            marker=dict(size=point_size, color=np.round(side.point_contributions, 6),
                        colorscale=DIVERGING, cmin=-vmax, cmax=vmax, cmid=0.0,
                        showscale=i == 0,
                        colorbar=dict(title=dict(text="share", side="right"), thickness=10,
                                      len=0.6, x=1.0)),
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
    title = (f"match #{explanation.rank}: similarity {explanation.similarity:.3f} · "
             f"background {explanation.parts['background']:+.3f}")
    return _layout(fig, camera, title, height)


def parts_figure(explanation, height: int = 300) -> go.Figure:
    """Waterfall: head, torso, arms, legs, feet, background (, unlabelled), bias -> similarity."""
    names = list(explanation.parts) + ["bias"]
    values = [explanation.parts[n] for n in explanation.parts] + [explanation.bias]
    fig = go.Figure(go.Waterfall(
        x=[*names, "similarity"], y=[*values, 0.0],
        measure=["relative"] * len(values) + ["total"],
        text=[f"{v:+.3f}" for v in values] + [f"{explanation.similarity:.3f}"],
        textposition="outside", cliponaxis=False,
        increasing=dict(marker=dict(color="#d6604d")),
        decreasing=dict(marker=dict(color="#4393c3")),
        totals=dict(marker=dict(color="#636363")),
        connector=dict(line=dict(color=TEXT, width=1)), name="parts"))
    fig.update_layout(
        height=height, margin=dict(l=40, r=10, t=30, b=30), showlegend=False,
        title=dict(text=f"parts + bias = {explanation.similarity:.4f}", x=0.02,
                   font=dict(size=13, color=TEXT)),
        yaxis=dict(title="cosine similarity", zeroline=True, gridcolor="rgba(128,128,128,0.2)"),
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font=dict(color=TEXT))
    return fig


def moves_figure(whatif, height: int = 300) -> go.Figure:
    """Slope chart: each original top-k item from its old rank to its new one (log ranks when
    one falls far), with the new top-k's newcomers on the right."""
    fig = go.Figure()
    label = whatif.variation + ("" if whatif.value is None else f" = {whatif.value:g}")
    old = {mv.index for mv in whatif.moves}
    for mv in whatif.moves:
        colour = "#2ca02c" if mv.new_rank <= mv.old_rank else "#d62728"
        fig.add_trace(go.Scatter(
            x=["original", label], y=[mv.old_rank, mv.new_rank], mode="lines+markers+text",
            line=dict(color=colour, width=2), marker=dict(size=9),
            text=["", f"pid {mv.pid}"], textposition="middle right",
            textfont=dict(size=11), name=f"pid {mv.pid}",
            hovertemplate=(f"pid {mv.pid}: #{mv.old_rank} ({mv.old_similarity:.3f}) -> "
                           f"#{mv.new_rank} ({mv.new_similarity:.3f})<extra></extra>")))
    new = [m for m in whatif.matches if m.index not in old]
    if new:
        fig.add_trace(go.Scatter(
            x=[label] * len(new), y=[m.rank for m in new], mode="markers+text",
            marker=dict(size=9, color="#1f77b4", symbol="star"),
            text=[f"new: pid {m.pid}" for m in new], textfont=dict(size=11),
            textposition="middle right", name="new in the top-k"))
    worst = max([mv.new_rank for mv in whatif.moves] + [len(whatif.matches)])
    fig.update_layout(
        height=height, margin=dict(l=50, r=10, t=30, b=30), showlegend=False,
        title=dict(text=f"{label} · cosine {whatif.cosine_to_original:.4f}", x=0.02,
                   font=dict(size=13, color=TEXT)),
        yaxis=dict(title="rank", autorange="reversed",
                   type="log" if worst > 20 else "linear",
                   gridcolor="rgba(128,128,128,0.2)"),
        # room right of the second column for the labels (the axis is categorical: 0, 1)
        xaxis=dict(gridcolor="rgba(128,128,128,0.2)", range=[-0.3, 1.9]),
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font=dict(color=TEXT))
    return fig


def yaw_figure(angles: np.ndarray, cosines: np.ndarray, mirror: float | None = None,
               height: int = 300) -> go.Figure:
    """The embedding's cosine to the original against the yaw angle (degrees)."""
    fig = go.Figure(go.Scatter(x=np.asarray(angles), y=np.round(cosines, 5),
                               mode="lines+markers", name="turned", line=dict(color="#1f77b4")))
    if mirror is not None:
        fig.add_hline(y=mirror, line=dict(color="#ff7f0e", dash="dash"),
                      annotation_text=f"mirrored: {mirror:.3f}",
                      annotation_font_color="#ff7f0e")
    fig.update_layout(
        height=height, margin=dict(l=50, r=10, t=30, b=40), showlegend=False,
        title=dict(text="cosine to the original embedding vs yaw", x=0.02,
                   font=dict(size=13, color=TEXT)),
        xaxis=dict(title="yaw (degrees)", tickvals=list(range(-180, 181, 30)),
                   gridcolor="rgba(128,128,128,0.2)"),
        yaxis=dict(title="cosine", gridcolor="rgba(128,128,128,0.2)"),
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)", font=dict(color=TEXT))
    return fig
