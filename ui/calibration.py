"""The small histogram beside the matches: how a gallery's threshold was calibrated
(``ognet.gallery.calibrate``), as fast-reid's tools plot their same/different similarities.

Two distributions over the gallery's own items: the best similarity to the same person in
another camera ("same person": a true match) and the best similarity to anyone else
("another person": what a person who is not in the gallery gets); the threshold between them
(with its false-match rate); and the current query's best match.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

#: Readable on the light and the dark page.
TEXT = "#8a8a8a"
SAME, OTHER, QUERY = "#2ca02c", "#d62728", "#1f77b4"


def calibration_figure(calibration: dict | None, best: float | None = None,
                       height: int = 200) -> go.Figure:
    """The histograms of ``calibration`` (shares of the gallery's items per bin), its
    threshold, and ``best`` (the query's top similarity) when given; the two lines are named
    in the legend (labels on the plot would cover the bars or each other)."""
    fig = go.Figure()
    font = dict(color=TEXT, size=12)
    top = 1.0
    if calibration is None:
        fig.add_annotation(text="no calibration: the gallery has a single identity",
                           showarrow=False, font=font, x=0.5, y=0.5, xref="paper",
                           yref="paper")
    else:
        edges = np.asarray(calibration["edges"], dtype=float)
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        shares = {}
        for key, name, colour in (("different", "another person", OTHER),
                                  ("same", "same person", SAME)):
            counts = np.asarray(calibration[key], dtype=float)
            shares[key] = counts / counts.sum() if counts.sum() else counts
            fig.add_bar(x=centres, y=shares[key], width=width, name=name,
                        marker_color=colour, opacity=0.6,
                        hovertemplate="%{x:.2f}: %{y:.0%}<extra>" + name + "</extra>")
        top = 1.08 * max(float(v.max()) for v in shares.values())
        t = float(calibration["threshold"])
        fig.add_trace(vertical_line(t, top, f"threshold {t:.2f} "
                                    f"({calibration['false_match_rate']:.0%})", TEXT,
                                    dash="dash"))
        if best is not None:
            fig.add_trace(query_line(best, top))
        # the x axis spans the bins holding all but 1% of the items (not a long thin tail)
        mass = (np.asarray(calibration["same"]) + np.asarray(calibration["different"])).cumsum()
        lo = edges[np.searchsorted(mass, 0.01 * mass[-1])]
        hi = edges[min(np.searchsorted(mass, 0.999 * mass[-1]) + 1, len(edges) - 1)]
        fig.update_xaxes(range=[min(lo, t, best if best is not None else t) - width,
                                max(hi, t, best if best is not None else t) + width])
    fig.update_layout(
        height=height, margin=dict(l=4, r=4, t=4, b=30), barmode="overlay",
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", font=font,
                    bgcolor="rgba(0,0,0,0)", entrywidth=140),
        xaxis=dict(title=dict(text="best match's similarity", font=font, standoff=2),
                   tickfont=font, showgrid=False, zeroline=False),
        yaxis=dict(visible=False, fixedrange=True, range=[0, top]),
        showlegend=calibration is not None, dragmode=False)
    return fig


def vertical_line(x: float, top: float, name: str, colour: str, dash: str = "solid",
                  width: int = 2) -> go.Scatter:
    """A vertical line at ``x`` as a named trace (it shows in the legend)."""
    return go.Scatter(x=[x, x], y=[0, top], mode="lines", name=name, hoverinfo="name",
                      line=dict(color=colour, width=width, dash=dash))


def query_line(best: float, top: float) -> go.Scatter:
    """The query's best similarity as a vertical line named in the legend."""
    return vertical_line(best, top, f"this query {best:.2f}", QUERY, width=3)


class CalibrationPlot:
    """One gallery's histogram, built once; per query only the query's line is added to its
    JSON (a Plotly figure built per query would cost about 0.2 s on 2 cores, beside a search
    of 0.3 s)."""

    def __init__(self, calibration: dict | None):
        self.figure = json.loads(calibration_figure(calibration).to_json())
        self.top = self.figure["layout"]["yaxis"]["range"][1]
        self.calibrated = calibration is not None

    def __call__(self, best: float | None = None):
        """The histogram with ``best`` marked, as the ``gr.Plot`` value."""
        from gradio.components.plot import PlotData

        figure = self.figure
        if best is not None and self.calibrated:
            line = json.loads(query_line(best, self.top).to_json())
            figure = {**figure, "data": [*figure["data"], line]}
        return PlotData(type="plotly", plot=json.dumps(figure))
