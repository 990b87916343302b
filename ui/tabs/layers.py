"""The Layers tab: what each OG-Net module did (sampling, graphs, groups, feature norms)
around a chosen point."""

from __future__ import annotations

import gradio as gr

import viz
from ui.text import PLOT_HINTS

TITLE, ID = "Layers", "layers"
VIEWS = ["sampled points", "knn graph", "groups", "non-local graph", "feature norm"]


def build(ctx) -> None:
    n_modules = len(ctx.pipe.model.config.stage_points)
    with gr.Row(elem_id="layer-controls"):
        module = gr.Slider(0, n_modules, value=0, step=1, label="module",
                           info=f"0 = input, 1..{n_modules}", elem_id="module", min_width=200)
        view = gr.Dropdown(VIEWS, value="sampled points", label="show", min_width=180)
        centre = gr.Dropdown(["by index", *viz.LANDMARKS], value="head", label="centre",
                             min_width=160)
        index = gr.Number(0, precision=0, label="index", minimum=0, min_width=90)
        colours = gr.Dropdown([("photo", "rgb"), ("grey", "grey")], value="rgb",
                              label="colours", min_width=110)
    waiting = viz.hint_figure(PLOT_HINTS["layerplot"])  # before a query
    plot = gr.Plot(waiting, label="layer", show_label=False, elem_id="layerplot")
    note = gr.Markdown()
    controls = [module, view, centre, index, colours, ctx["camera"], ctx["point_size"]]

    def render(result, module, view, centre, index, colours, camera, size):
        if result is None:
            return waiting, ""
        point, why = viz.layer_centre(result, int(module), centre, index)
        fig = viz.layer_figure(result.trace, int(module), view, point=point, camera=camera,
                               point_size=size, colours=colours)
        return fig, why

    ctx.on_result(render, controls, [plot, note])
    for c in controls:
        c.change(render, inputs=[ctx.state, *controls], outputs=[plot, note],
                 api_visibility="private", show_progress="hidden")
