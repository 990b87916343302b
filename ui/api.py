"""The API endpoints ``/lift``, ``/search``, ``/galleries``, ``/explain`` and ``/whatif`` (JSON
out, a plain file in; see README)."""

from __future__ import annotations

import base64

import gradio as gr
import numpy as np

from ui.context import AppContext


def add_endpoints(ctx: AppContext, query, infos: dict) -> None:
    """Hidden components carrying the endpoints; ``query(path, gallery=name)`` ->
    ``QueryResult``; ``infos``: ``name -> ui.galleries.GalleryInfo`` of every gallery."""
    from ognet.lift import LiftError

    pipe = ctx.pipe

    def thumbnail_url(m) -> str:
        data = pipe.galleries[m.gallery].thumbnails[m.index]
        return ("data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                if data else "")

    def chosen(gallery) -> str:
        if gallery in (None, ""):
            return pipe.gallery_name
        if gallery not in pipe.galleries:
            raise gr.Error(f"unknown gallery {gallery!r}; one of {', '.join(pipe.galleries)}",
                           print_exception=False)
        return gallery

    def api_lift(path):
        """Lift a photo: method, message, timings (s), 2D landmarks, the lifting's estimates
        (build, camera pitch, lean, facing; height only where known) and the (N, 6) cloud."""
        try:
            lift = pipe.lifter(path)
        except LiftError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return {"method": lift.method, "message": lift.message,
                "person_found": lift.person_found, "lifting": lift.lifting,
                "timings": {k: round(v, 4) for k, v in lift.timings.items()},
                "num_points": len(lift.points),
                "foreground_points": int(lift.foreground.sum()),
                "landmarks_2d": None if lift.landmarks_2d is None
                else np.round(lift.landmarks_2d, 2).tolist(),
                **_estimates(lift),
                "points": np.round(lift.points, 4).tolist()}

    def api_search(path, gallery):
        """Top-5 gallery matches of a photo (or .ply/.pcd cloud), best first, each with
        ``confident``: above the gallery's calibrated threshold (see ``/galleries``)."""
        try:
            result = query(path, gallery=chosen(gallery))
        except LiftError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return [{"rank": m.rank, "similarity": round(m.similarity, 4), "pid": m.pid,
                 "camid": m.camid, "confident": bool(m.confident), "image": thumbnail_url(m)}
                for m in result.matches]

    def api_galleries():
        """Every gallery the app searches: its size, people, lifting and calibration."""
        out = {}
        for name, info in infos.items():
            c = info.calibration
            out[name] = {"default": name == pipe.gallery_name, "images": info.size,
                         "identities": info.identities, "people": info.people,
                         "lifting": pipe.galleries[name].lifting,
                         "calibration": None if c is None else {
                             k: c[k] for k in ("threshold", "false_match_rate",
                                               "true_match_rate", "queries", "same_identity",
                                               "edges", "same", "different")}}
        return out

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
        api_gallery = gr.Textbox("", label="gallery")
        lift_btn = gr.Button()
        search_btn = gr.Button()
        galleries_btn = gr.Button()
        api_rank = gr.Number(1, precision=0)
        api_with_match = gr.Checkbox(True)
        api_variation = gr.Textbox()
        api_value = gr.Number(None)
        explain_btn = gr.Button()
        whatif_btn = gr.Button()
    lift_btn.click(api_lift, inputs=[api_file], outputs=[api_json], api_name="lift")
    search_btn.click(api_search, inputs=[api_file, api_gallery], outputs=[api_json],
                     api_name="search")
    galleries_btn.click(api_galleries, inputs=None, outputs=[api_json], api_name="galleries")
    explain_btn.click(api_explain, inputs=[api_file, api_rank, api_with_match],
                      outputs=[api_json], api_name="explain")
    whatif_btn.click(api_whatif, inputs=[api_file, api_variation, api_value],
                     outputs=[api_json], api_name="whatif")


def _estimates(lift) -> dict:
    """What the lifting estimated about the person (None where it does not estimate it)."""
    def number(v):
        return None if v is None else round(float(v), 2)

    own = lift.camera_pitch_deg is not None  # the "person" lifting; "mean_body" estimates none
    return {"betas": np.round(lift.betas, 4).tolist() if own and lift.betas is not None
            else None,
            "camera_pitch_deg": number(lift.camera_pitch_deg), "lean_deg": number(lift.lean_deg),
            "yaw_deg": number(lift.yaw_deg), "flip_repaired": bool(lift.flip_repaired),
            "height_m": number(lift.height_m)}
