"""The What-if tab: re-run the query under one change and see the top-5 move (``ognet.whatif``).

Colour against shape (greyscale, no colour, flat depth, body only), viewpoint (yaw, mirror,
with the cosine-vs-yaw curve), and the paper's sensitivity figures live: k (Fig. 7) and point
density (Fig. 8) as sliders. The query's own result is never changed.
"""

from __future__ import annotations

import weakref

import gradio as gr

from ui.text import PLOT_HINTS
from viz.explain import moves_figure, yaw_figure
from viz.figures import hint_figure

TITLE, ID = "What if", "whatif"
HINT = "Run a query, then change one thing: the top-5 is re-ranked, the original stays."
#: Radio label -> variation name of ``ognet.whatif.VARIATIONS`` (no value).
CHANGES = {"greyscale": "greyscale", "no colour": "no_colour", "flat depth (z = 0)":
           "flat_depth", "body only": "body_only", "mirrored": "mirror"}
YAWS = [-90, -30, 30, 90]


def table(w) -> str:
    """The original top-5's new places and the new top-5, as Markdown."""
    rows = ["| was | pid | now | similarity |", "|---:|---:|---:|---:|"]
    for mv in w.moves:
        arrow = "=" if mv.new_rank == mv.old_rank else ("↑" if mv.new_rank < mv.old_rank
                                                        else "↓")
        rows.append(f"| #{mv.old_rank} | {mv.pid} | #{mv.new_rank} {arrow} | "
                    f"{mv.old_similarity:.3f} → {mv.new_similarity:.3f} |")
    new = [m for m in w.matches if m.index not in {mv.index for mv in w.moves}]
    if new:
        rows.append("")
        rows.append("new in the top-5: " + ", ".join(f"#{m.rank} pid {m.pid} "
                                                     f"({m.similarity:.3f})" for m in new))
    return (f"**{w.variation}**{'' if w.value is None else f' = {w.value:g}'}: cosine to the "
            f"original embedding **{w.cosine_to_original:.4f}**, {len(w.points)} points\n\n"
            + "\n".join(rows))


def waiting() -> tuple:
    """The two plots before a change is tried: what will show in each."""
    return hint_figure(PLOT_HINTS["whatif-moves"]), hint_figure(PLOT_HINTS["whatif-yaw-curve"])


def build(ctx) -> None:
    trained_k = ctx.pipe.model.config.k
    with gr.Row(equal_height=True):
        change = gr.Radio(list(CHANGES), value=None, label="colour and shape", scale=3,
                          elem_id="whatif-change")
        yaw = gr.Radio(YAWS, value=None, label="yaw (degrees)", scale=2, elem_id="whatif-yaw")
    with gr.Row(equal_height=True):
        k = gr.Slider(4, 64, value=trained_k, step=1,
                      label=f"EdgeConv's k (Fig. 7; trained: {trained_k})",
                      elem_id="whatif-k")
        density = gr.Slider(0.25, 1.0, value=1.0, step=0.05,
                            label="point density (Fig. 8)", elem_id="whatif-density")
    with gr.Row(equal_height=False):
        moves = gr.Plot(waiting()[0], label="top-5 movement", show_label=False,
                        elem_id="whatif-moves")
        curve = gr.Plot(waiting()[1], label="cosine vs yaw", show_label=False,
                        elem_id="whatif-yaw-curve")
    note = gr.Markdown(HINT, elem_id="whatif-note")

    def run(result, variation, value, progress):
        if result is None:
            return gr.skip(), gr.skip(), HINT
        progress(0.3, desc=f"re-running the query: {variation}")
        try:
            w = ctx.pipe.what_if(result, variation, value)
        except ValueError as e:  # WhatIfError is a ValueError
            gr.Warning(str(e))
            return gr.skip(), gr.skip(), f"⚠️ {e}"
        figure = gr.skip()
        if variation in ("yaw", "mirror"):
            progress(0.6, desc="the cosine against the yaw angle")
            figure = curve_of(result)
        return moves_figure(w), figure, table(w)

    curves = {}  # the last query's cosine-vs-yaw figure (one per query: 13 + 1 runs)

    def curve_of(result):
        from ognet.whatif import yaw_curve

        owner = curves.get("result")
        if owner is None or owner() is not result:
            angles, cosines = yaw_curve(ctx.pipe, result, angles=tuple(range(-180, 181, 30)))
            mirrored = ctx.pipe.what_if(result, "mirror").cosine_to_original
            curves.update(result=weakref.ref(result),
                          figure=yaw_figure(angles, cosines, mirror=mirrored))
        return curves["figure"]

    # One change at a time, from the original query: the control just used shows its value,
    # every other one goes back to "unchanged" (no radio left highlighted from before).
    def unchanged(keep: str) -> tuple:
        resets = {"change": None, "yaw": None, "k": trained_k, "density": 1.0}
        return tuple(gr.skip() if name == keep else value for name, value in resets.items())

    def on_change(result, label, progress=gr.Progress()):  # noqa: B008 - gradio injects it
        if not label:
            return (gr.skip(),) * 7
        return *run(result, CHANGES[label], None, progress), *unchanged("change")

    def on_yaw(result, angle, progress=gr.Progress()):  # noqa: B008
        if angle is None:
            return (gr.skip(),) * 7
        return *run(result, "yaw", angle, progress), *unchanged("yaw")

    def on_k(result, value, progress=gr.Progress()):  # noqa: B008
        return *run(result, "k", int(value), progress), *unchanged("k")

    def on_density(result, value, progress=gr.Progress()):  # noqa: B008
        return *run(result, "density", value, progress), *unchanged("density")

    outputs = [moves, curve, note, change, yaw, k, density]
    change.input(on_change, inputs=[ctx.state, change], outputs=outputs,
                 api_visibility="private")
    yaw.input(on_yaw, inputs=[ctx.state, yaw], outputs=outputs, api_visibility="private")
    k.release(on_k, inputs=[ctx.state, k], outputs=outputs, api_visibility="private")
    density.release(on_density, inputs=[ctx.state, density], outputs=outputs,
                    api_visibility="private")

    def cleared(result):  # a new query: reset the controls and the old answers
        return None, None, trained_k, 1.0, *waiting(), HINT

    ctx.on_result(cleared, [], [change, yaw, k, density, moves, curve, note])
