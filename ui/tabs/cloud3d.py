"""The 3D tab: the query's colored cloud (optionally the fitted body mesh) and the view
controls the other tabs share (camera, point size). Before a query (and after a failed one)
the view holds a placeholder at its full size that says what will appear."""

from __future__ import annotations

import gradio as gr
import plotly.graph_objects as go

import viz
from ui.theme import FULLSCREEN_JS

TITLE, ID = "3D", "cloud"
#: What the empty 3D view says.
HINT = "Drop a pedestrian photo or click an example:<br>its coloured 3D point cloud shows here."


def placeholder() -> go.Figure:
    """An empty view, sized by the page like the cloud, with the hint in its middle."""
    fig = go.Figure()
    fig.add_annotation(text=HINT, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font=dict(size=16, color=viz.figures.TEXT))
    fig.update_layout(xaxis=dict(visible=False), yaxis=dict(visible=False),
                      margin=dict(l=0, r=0, t=0, b=0), paper_bgcolor="rgba(0,0,0,0)",
                      plot_bgcolor="rgba(0,0,0,0)")
    return fig


def build(ctx) -> None:
    plot = gr.Plot(placeholder(), label="Colored point cloud", show_label=False,
                   elem_id="plot3d")
    with gr.Row(equal_height=True, elem_id="view-controls"):
        show_bg = gr.Checkbox(value=True, label="background", container=False, min_width=120,
                              scale=0)
        show_mesh = gr.Checkbox(value=False, label="body mesh", container=False, min_width=120,
                                scale=0)
        camera = gr.Radio([(k if k != "three-quarter" else "3/4", k) for k in viz.CAMERAS],
                          value="three-quarter", label="camera", show_label=False,
                          container=False, min_width=250, scale=2, elem_id="camera")
        gr.Markdown("point size", elem_id="point-size-label")
        size = gr.Slider(0.5, 6, value=2, step=0.5, label="point size", container=False,
                         min_width=150, scale=1, elem_id="point-size")
        full = gr.Button("Full screen", size="sm", min_width=110, scale=0,
                         elem_id="fullscreen")
    full.click(None, js=FULLSCREEN_JS)
    ctx.components.update(camera=camera, point_size=size, show_background=show_bg)
    controls = [show_bg, show_mesh, camera, size]

    def render(result, show_bg, show_mesh, camera, size):
        if result is None:
            return gr.skip()
        return viz.query_figure(result, show_background=show_bg, show_mesh=show_mesh,
                                camera=camera, point_size=size)

    ctx.on_result(render, controls, [plot])
    for c in controls:
        c.change(render, inputs=[ctx.state, *controls], outputs=[plot],
                 api_visibility="private", show_progress="hidden")
