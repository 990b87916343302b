"""The Walkthrough tab, for talks: OG-Net's modules step by step on the current query
(input -> FPS -> KNN graph -> groups -> non-local graph), a caption per step, and a slow
turntable. Plotly plays it in the browser (``viz.walkthrough``)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import plotly

import viz
from viz.walkthrough import iframe, walkthrough_figure, walkthrough_page

TITLE, ID = "Walkthrough", "walkthrough"
#: Plotly's own bundle (shipped with the Python package), served by the app to the
#: walkthrough's frame: nothing is downloaded.
PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
#: The walkthrough centres its graph and groups on this body landmark when there is one.
CENTRE = "left shoulder"


def build(ctx) -> None:
    gr.set_static_paths(paths=[PLOTLY_JS])
    view = gr.HTML("<p>The walkthrough of the current query is drawn here when this tab is "
                   "opened (about a second): run a query first.</p>", elem_id="walkthrough")
    url = f"/gradio_api/file={PLOTLY_JS}"

    def render(result, camera, size):
        centre, _ = viz.layer_centre(result, 1, CENTRE, 0)
        fig = walkthrough_figure(result.trace, centre=centre, point_size=size, camera=camera)
        return iframe(walkthrough_page(fig, url))

    ctx.on_result(render, [ctx["camera"], ctx["point_size"]], [view])
