"""The Lifting tab: the crop with the person mask, the fitted body's outline, the lifted
pixels and the 2D skeleton (with their legend), and how it was lifted: the lifting, the
estimated build, camera pitch, lean and facing, and the height where it is known."""

from __future__ import annotations

import gradio as gr

import viz
from ui import text
from viz.overlay import OVERLAY_COLOURS

TITLE, ID = "Lifting", "lifting"
#: The overlay's enlargement of the 128x64 crop (shown up to the tab's height: about 6x at
#: 1920x1080, so its outlines are not blurred by the browser's scaling).
OVERLAY_SCALE = 6


def build(ctx) -> None:
    with gr.Row(elem_id="lift-row"):
        with gr.Column(scale=0, min_width=160, elem_id="lift-crop"):
            gr.Markdown("**The crop**, as it was lifted")
            overlay = gr.Image(label="how the crop was lifted", show_label=False,
                               height="calc(var(--plot-h) - 40px)", interactive=False,
                               elem_id="lift-overlay")
        with gr.Column(scale=1, min_width=280, elem_id="lift-text"):
            gr.HTML(text.lifting_legend(OVERLAY_COLOURS), elem_id="lift-legend")
            notes = gr.Markdown(elem_id="lift-notes")
    body_model_dir = ctx.pipe.body_model_dir

    def render(result):
        if result is None:
            return gr.skip(), gr.skip()
        lift = result.lift
        image = (None if lift is None else
                 viz.lifting_overlay(lift.image, lift.mask, lift.foreground, lift.landmarks_2d,
                                     body=lift.body_pixels, scale=OVERLAY_SCALE))
        return image, text.lifting_notes(result, body_model_dir)

    ctx.on_result(render, [], [overlay, notes])
