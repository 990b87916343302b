"""The API endpoints ``/lift`` and ``/search`` (JSON out, a plain file in; see README)."""

from __future__ import annotations

import base64

import gradio as gr
import numpy as np

from ui.context import AppContext


def add_endpoints(ctx: AppContext, query) -> None:
    """Hidden components carrying the two endpoints; ``query(path)`` -> ``QueryResult``."""
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

    with gr.Row(visible=False):
        api_file = gr.File(type="filepath")
        api_json = gr.JSON()
        lift_btn = gr.Button()
        search_btn = gr.Button()
    lift_btn.click(api_lift, inputs=[api_file], outputs=[api_json], api_name="lift")
    search_btn.click(api_search, inputs=[api_file], outputs=[api_json], api_name="search")
