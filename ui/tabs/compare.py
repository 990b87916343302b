"""The Compare tab: a clicked match's cloud beside the query's, drawn with the 3D tab's view
controls (background on or off, camera, point size) and redrawn when they change. A new
query empties both plots (the page resets every panel an event writes: ``ui.blocks``)."""

from __future__ import annotations

import weakref

import gradio as gr

import viz
from ui.text import PLOT_HINTS

TITLE, ID = "Compare", "compare"
HINT = "Click one of the top-5 matches to see its cloud beside the query's."


def waiting() -> tuple:
    """The two plots before a match is clicked: what will show in each."""
    return (viz.hint_figure(PLOT_HINTS["compare-query"]),
            viz.hint_figure(PLOT_HINTS["compare-match"]))


def build(ctx) -> None:
    note = gr.Markdown(HINT, elem_id="compare-note")
    with gr.Row():
        query_plot = gr.Plot(waiting()[0], label="query", show_label=False,
                             elem_id="compare-query")
        match_plot = gr.Plot(waiting()[1], label="match", show_label=False,
                             elem_id="compare-match")
    shown = gr.State(None)  # (rank, result) of the match shown; None: none
    clouds = {}  # the last match cloud drawn: {"result": weakref, "rank": int, "parts": ...}

    def match_cloud(result, m):
        """``pipe.match_cloud_parts`` of match ``m``, kept while the same match is shown (a
        view control redraws without re-lifting it)."""
        owner = clouds.get("result")
        if owner is None or owner() is not result or clouds["rank"] != m.rank:
            clouds.update(result=weakref.ref(result), rank=m.rank,
                          parts=ctx.pipe.match_cloud_parts(m))
        return clouds["parts"]

    def draw(result, rank, show_bg, camera, size):
        """(query figure, match figure, note) of match ``rank``; raises ``ValueError`` or
        ``OSError`` when the match's cloud cannot be had."""
        m = result.matches[rank - 1]
        points, _, foreground = match_cloud(result, m)
        left = viz.query_figure(result, show_background=show_bg, point_size=size,
                                camera=camera, title=f"query<br>{result.name}")
        right = viz.cloud_figure(points, foreground=foreground, show_background=show_bg,
                                 point_size=size, camera=camera,
                                 title=f"match #{m.rank}: pid {m.pid}, camera {m.camid}<br>"
                                       f"similarity {m.similarity:.3f}")
        text = f"Match #{m.rank} beside the query."
        if not show_bg and foreground is None:
            text += " This match's cloud has no person mask: its background stays."
        return left, right, text

    def select_match(result, show_bg, camera, size, evt: gr.SelectData):
        if result is None or evt.index is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        rank = int(evt.index) + 1
        try:
            left, right, text = draw(result, rank, show_bg, camera, size)
        except (ValueError, OSError) as e:
            gr.Warning(f"Cannot show match #{rank} in 3D: {e}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return left, right, text, (rank, result), gr.Tabs(selected=ID)

    def redraw(result, shown, show_bg, camera, size):
        """A view control changed: draw the match shown again, if it is of this result."""
        if result is None or shown is None or shown[1] is not result:
            return gr.skip(), gr.skip(), gr.skip()
        try:
            return draw(result, shown[0], show_bg, camera, size)
        except (ValueError, OSError):
            return gr.skip(), gr.skip(), gr.skip()

    def wire():
        view = [ctx["show_background"], ctx["camera"], ctx["point_size"]]
        ctx["matches"].select(select_match, inputs=[ctx.state, *view],
                              outputs=[query_plot, match_plot, note, shown, ctx["tabs"]],
                              api_visibility="private")
        for control in view:
            control.change(redraw, inputs=[ctx.state, shown, *view],
                           outputs=[query_plot, match_plot, note], api_visibility="private",
                           show_progress="hidden")

    ctx.after_layout(wire)
