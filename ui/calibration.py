"""The small histogram beside the matches: how a gallery's threshold was calibrated
(``ognet.gallery.calibrate``), as fast-reid's tools plot their same/different similarities.

Two distributions over the gallery's own items: the best similarity to the same person in
another camera (a true match) and the best similarity to anyone else (what a person who is
not in the gallery gets); the threshold between them; and the current query's best match.
"""

from __future__ import annotations

import json

import numpy as np
import plotly.graph_objects as go

#: Readable on the light and the dark page.
TEXT = "#8a8a8a"
SAME, OTHER, QUERY = "#2ca02c", "#d62728", "#1f77b4"


def calibration_figure(calibration: dict | None, best: float | None = None,
                       height: int = 170) -> go.Figure:
    """The histograms of ``calibration`` (shares of the gallery's items per bin), its
    threshold, and ``best`` (the query's top similarity) when given."""
    fig = go.Figure()
    font = dict(color=TEXT, size=12)
    if calibration is None:
        fig.add_annotation(text="no calibration: the gallery has a single identity",
                           showarrow=False, font=font, x=0.5, y=0.5, xref="paper",
                           yref="paper")
    else:
        edges = np.asarray(calibration["edges"], dtype=float)
        centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
        for key, name, colour in (("different", "another person", OTHER),
                                  ("same", "same person, other camera", SAME)):
            counts = np.asarray(calibration[key], dtype=float)
            share = counts / counts.sum() if counts.sum() else counts
            fig.add_bar(x=centres, y=share, width=width, name=name, marker_color=colour,
                        opacity=0.6, hovertemplate="%{x:.2f}: %{y:.0%}<extra>" + name
                        + "</extra>")
        # the x axis spans the bins holding the middle 99.8% of both (not a stray outlier)
        mass = (np.asarray(calibration["same"]) + np.asarray(calibration["different"])).cumsum()
        lo = edges[np.searchsorted(mass, 0.001 * mass[-1])]
        hi = edges[np.searchsorted(mass, 0.999 * mass[-1]) + 1]
        t = float(calibration["threshold"])
        fig.update_xaxes(range=[min(lo, t, best if best is not None else t) - width,
                                max(hi, t, best if best is not None else t) + width])
        fig.add_vline(x=t, line=dict(color=TEXT, width=2, dash="dash"),
                      annotation=dict(text=f"threshold {t:.2f}", font=font,
                                      xanchor="right", yanchor="top"),
                      annotation_position="top left")
        if best is not None:
            shape, note = query_line(best)
            fig.add_shape(shape)
            fig.add_annotation(note)
    fig.update_layout(
        height=height, margin=dict(l=4, r=4, t=4, b=30), barmode="overlay",
        paper_bgcolor="rgba(0,0,0,0)", plot_bgcolor="rgba(0,0,0,0)",
        legend=dict(orientation="h", x=0, y=1.0, yanchor="bottom", font=font,
                    bgcolor="rgba(0,0,0,0)"),
        xaxis=dict(title=dict(text="best match's similarity", font=font, standoff=2),
                   tickfont=font, showgrid=False, zeroline=False),
        yaxis=dict(visible=False, fixedrange=True), showlegend=calibration is not None,
        dragmode=False)
    return fig


def query_line(best: float) -> tuple[dict, dict]:
    """The query's best similarity as a vertical line and its label (layout dicts)."""
    return (dict(type="line", x0=best, x1=best, xref="x", y0=0, y1=1, yref="paper",
                 line=dict(color=QUERY, width=3)),
            dict(text=f"this query {best:.2f}", x=best, xref="x", y=0, yref="paper",
                 xanchor="left", yanchor="bottom", showarrow=False,
                 font=dict(color=QUERY, size=12)))


class CalibrationPlot:
    """One gallery's histogram, built once; per query only the query's line is added to its
    JSON (a Plotly figure built per query would cost about 0.2 s on 2 cores, beside a search
    of 0.3 s)."""

    def __init__(self, calibration: dict | None):
        self.figure = json.loads(calibration_figure(calibration).to_json())
        self.calibrated = calibration is not None

    def __call__(self, best: float | None = None):
        """The histogram with ``best`` marked, as the ``gr.Plot`` value."""
        from gradio.components.plot import PlotData

        figure = self.figure
        if best is not None and self.calibrated:
            shape, note = query_line(best)
            layout = dict(figure["layout"])
            layout["shapes"] = [*layout.get("shapes", []), shape]
            layout["annotations"] = [*layout.get("annotations", []), note]
            figure = {**figure, "layout": layout}
        return PlotData(type="plotly", plot=json.dumps(figure))
