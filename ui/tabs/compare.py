"""The Compare tab: a clicked match's cloud beside the query's."""

from __future__ import annotations

import gradio as gr

import viz

TITLE, ID = "Compare", "compare"


def build(ctx) -> None:
    note = gr.Markdown("Click a match to see its cloud here.")
    with gr.Row():
        query_plot = gr.Plot(label="query", show_label=False, elem_id="compare-query")
        match_plot = gr.Plot(label="match", show_label=False, elem_id="compare-match")

    def select_match(result, show_bg, camera, size, evt: gr.SelectData):
        if result is None or evt.index is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        m = result.matches[int(evt.index)]
        try:
            points = ctx.pipe.match_cloud(m)
        except (ValueError, OSError) as e:
            gr.Warning(f"Cannot show match #{m.rank} in 3D: {e}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        left = viz.query_figure(result, show_background=show_bg, point_size=size,
                                camera=camera, title=f"query: {result.name}")
        right = viz.cloud_figure(points, point_size=size, camera=camera,
                                 title=f"match #{m.rank}: pid {m.pid}, cam {m.camid} "
                                       f"(similarity {m.similarity:.3f})")
        return left, right, f"Match #{m.rank} beside the query.", gr.Tabs(selected=ID)

    ctx.after_layout(lambda: ctx["matches"].select(
        select_match, inputs=[ctx.state, ctx["show_background"], ctx["camera"],
                              ctx["point_size"]],
        outputs=[query_plot, match_plot, note, ctx["tabs"]], api_visibility="private"))
