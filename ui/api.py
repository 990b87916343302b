"""The API endpoints ``/lift``, ``/search``, ``/explain`` and ``/whatif`` (JSON out, a plain
file in; see README)."""

from __future__ import annotations

import base64

import gradio as gr
import numpy as np

from ui.context import AppContext


def add_endpoints(ctx: AppContext, query) -> None:
    """Hidden components carrying the endpoints; ``query(path)`` -> ``QueryResult``."""
    from ognet.lift import LiftError

    pipe = ctx.pipe

    def thumbnail_url(i: int) -> str:
        data = pipe.gallery.thumbnails[i]
        return ("data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                if data else "")

    def api_lift(path):
        """Lift a photo: method, message, timings (s), 2D landmarks and the (N, 6) cloud."""
        try:
            lift = pipe.lifter(path)
        except LiftError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return {"method": lift.method, "message": lift.message,
                "person_found": lift.person_found,
                "timings": {k: round(v, 4) for k, v in lift.timings.items()},
                "num_points": len(lift.points),
                "foreground_points": int(lift.foreground.sum()),
                "landmarks_2d": None if lift.landmarks_2d is None
                else np.round(lift.landmarks_2d, 2).tolist(),
                "points": np.round(lift.points, 4).tolist()}

    def api_search(path):
        """Top-5 gallery matches of a photo (or .ply/.pcd cloud), best first."""
        try:
            result = query(path)
        except LiftError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return [{"rank": m.rank, "similarity": round(m.similarity, 4), "pid": m.pid,
                 "camid": m.camid, "image": thumbnail_url(m.index)} for m in result.matches]

    def api_explain(path, rank, with_match):
        """Why match ``rank`` (1..5) of a photo or cloud matched: parts + bias = similarity.
        ``with_match`` (default on, as the Explain tab): the match's own cloud split too, and
        the strongest point pairs."""
        try:
            result = query(path)
            explanation = pipe.explain(result, int(rank), with_match=bool(with_match))
        except (ValueError, TypeError) as e:  # LiftError is a ValueError
            raise gr.Error(str(e), print_exception=False) from None
        m = result.matches[explanation.rank - 1]
        return {"pid": m.pid, "camid": m.camid, **explanation.to_dict()}

    def api_whatif(path, variation, value):
        """The query re-run under one variation: the new top-5 and where the old one went."""
        try:
            return pipe.what_if(query(path), variation, value).to_dict()
        except ValueError as e:  # LiftError and WhatIfError are ValueErrors
            raise gr.Error(str(e), print_exception=False) from None

    with gr.Row(visible=False):
        api_file = gr.File(type="filepath")
        api_json = gr.JSON()
        lift_btn = gr.Button()
        search_btn = gr.Button()
        api_rank = gr.Number(1, precision=0)
        api_with_match = gr.Checkbox(True)
        api_variation = gr.Textbox()
        api_value = gr.Number(None)
        explain_btn = gr.Button()
        whatif_btn = gr.Button()
    lift_btn.click(api_lift, inputs=[api_file], outputs=[api_json], api_name="lift")
    search_btn.click(api_search, inputs=[api_file], outputs=[api_json], api_name="search")
    explain_btn.click(api_explain, inputs=[api_file, api_rank, api_with_match],
                      outputs=[api_json], api_name="explain")
    whatif_btn.click(api_whatif, inputs=[api_file, api_variation, api_value],
                     outputs=[api_json], api_name="whatif")
