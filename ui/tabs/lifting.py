"""The Lifting tab: the crop with the person mask and 2D skeleton, and how it was lifted."""

from __future__ import annotations

import gradio as gr

import viz
from ui import text

TITLE, ID = "Lifting", "lifting"


def build(ctx) -> None:
    with gr.Row():
        with gr.Column():
            gr.Markdown("**The crop**: person mask, lifted pixels and the 2D skeleton")
            overlay = gr.Image(label="mask + 2D skeleton", show_label=False,
                               height="calc(var(--plot-h) - 40px)", interactive=False,
                               elem_id="lift-overlay")
        notes = gr.Markdown(elem_id="lift-notes")

    def render(result):
        if result is None:
            return gr.skip(), gr.skip()
        lift = result.lift
        image = (None if lift is None else
                 viz.lifting_overlay(lift.image, lift.mask, lift.foreground, lift.landmarks_2d))
        return image, text.lifting_notes(result)

    ctx.on_result(render, [], [overlay, notes])
