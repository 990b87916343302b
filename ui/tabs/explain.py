"""The Explain tab: why a match matched (``ognet.explain``).

Both clouds side by side coloured by each point's contribution to the similarity, the
strongest point pairs joined, and a waterfall of the parts (head, torso, arms, legs, feet,
background) and the bias that adds up to the similarity the search reported.
"""

from __future__ import annotations

import gradio as gr

from ui.text import PLOT_HINTS
from viz.explain import contribution_figure, parts_figure
from viz.figures import hint_figure

TITLE, ID = "Explain", "explain"
HINT = ("Choose a match (#1 to #5) and press Explain match: the similarity split over "
        "points and body parts.")


def summary(ex) -> str:
    """One paragraph under the figures: the sum, the background's share, the match note."""
    parts = " + ".join(f"{k} {v:+.3f}" for k, v in ex.parts.items())
    text = (f"**match #{ex.rank}**: {parts} + bias {ex.bias:+.3f} = **{ex.similarity:.4f}** "
            f"(search: {ex.reported_similarity:.4f}). **Background: {ex.parts['background']:+.3f}"
            f"** ({ex.background_share:.0%} of the similarity).")
    if ex.match is not None:
        text += (f" Right: the match's own cloud split against the query "
                 f"(its similarity from that cloud: {ex.match.similarity:.4f}, its "
                 f"background {ex.match_parts['background']:+.3f}).")
    elif ex.match_note:
        text += f" {ex.match_note}."
    return text


def waiting() -> tuple:
    """The two plots before a match is explained: what will show in each."""
    return hint_figure(PLOT_HINTS["explain-clouds"]), hint_figure(PLOT_HINTS["explain-parts"])


def build(ctx) -> None:
    with gr.Row(equal_height=True):
        rank = gr.Radio([(f"#{r}", r) for r in range(1, 6)], value=1, show_label=False,
                        container=False, min_width=260, scale=3, elem_id="explain-rank")
        pairs = gr.Checkbox(value=True, label="strongest pairs", container=False, scale=1,
                            min_width=130)
        go_btn = gr.Button("Explain match", variant="primary", size="sm", scale=1,
                           min_width=110, elem_id="explain-button")
    with gr.Row(equal_height=False):
        clouds = gr.Plot(waiting()[0], label="contribution per point", show_label=False,
                         scale=3, elem_id="explain-clouds")
        bars = gr.Plot(waiting()[1], label="parts", show_label=False, scale=2,
                       elem_id="explain-parts")
    note = gr.Markdown(HINT, elem_id="explain-note")

    def show(result, rank, pairs, camera, size, progress=gr.Progress()):  # noqa: B008
        if result is None:
            return *waiting(), HINT
        progress(0.2, desc="splitting the similarity")
        try:
            ex = ctx.pipe.explain(result, int(rank))
        except ValueError as e:
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), f"⚠️ {e}"
        return (contribution_figure(ex, point_size=size, camera=camera, show_pairs=pairs),
                parts_figure(ex), summary(ex))

    # A new query empties the plots and the note (the page resets every panel an event
    # writes, ``ui.blocks``): the old explanation no longer applies.
    def wire():
        inputs = [ctx.state, rank, pairs, ctx["camera"], ctx["point_size"]]
        for event in (go_btn.click, rank.input, pairs.input):
            event(show, inputs=inputs, outputs=[clouds, bars, note], api_visibility="private")

    ctx.after_layout(wire)
