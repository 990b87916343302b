"""The page: header, query inputs (left), the tabs (centre), the matches (right), the API.

One query event (Search button, a new photo, a cloud file) runs the pipeline once and then
every renderer the tabs registered with ``ctx.on_result`` (see :mod:`ui.context`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

import viz
from ui import people, text
from ui.api import add_endpoints
from ui.context import AppContext, upload_path
from ui.tabs import TABS
from ui.theme import RESIZE_JS


def list_examples(folders) -> list[str]:
    """Example query images in a folder or a list of folders (sorted per folder, folders in
    order; a missing folder gives none)."""
    out = []
    for folder in [folders] if isinstance(folders, str | Path) else folders:
        folder = Path(folder)
        if folder.is_dir():
            out += sorted(str(p) for p in folder.iterdir()
                          if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))
    return out


def build_app(pipe, args) -> gr.Blocks:
    from ognet.lift import LiftError
    from ognet.pipeline import CLOUD_SUFFIXES

    gallery_identities = set(pipe.gallery.pids.tolist())

    def query(path, progress=None, name=None, person=None):
        """A file path (photo or .ply/.pcd) -> QueryResult; raises LiftError for bad input.
        ``person``: which of a wide photo's people to search for (default: the largest)."""
        if path is None:
            raise LiftError("Drop a pedestrian photo (or a .ply / .pcd cloud) first.")
        name = name or Path(path).name
        try:
            result = pipe.run(path, name=name, progress=progress, person=person)
        except ValueError as e:  # LiftError is a ValueError; so are unreadable cloud files
            raise LiftError(str(e)) from None
        result.name = name
        return result

    with gr.Blocks(title="OG-Net: person re-id in 3D") as demo:
        ctx = AppContext(pipe=pipe, args=args, state=gr.State(None))
        gr.Markdown(f"**OG-Net · person re-identification in the 3D space** · "
                    f"{text.header(pipe.describe())}", elem_id="header")
        with gr.Row(equal_height=False, elem_id="main-row"):
            with gr.Column(scale=2, min_width=230, elem_id="query-column"):
                gr.Markdown("**Query**: a pedestrian photo (drop, paste, webcam)",
                            elem_id="query-title")
                image_in = gr.Image(label="Query photo", show_label=False, type="filepath",
                                    sources=["upload", "clipboard", "webcam"], height=230,
                                    elem_id="query-photo")
                cloud_in = gr.UploadButton("… or a .ply / .pcd cloud (skips lifting)",
                                           file_types=list(CLOUD_SUFFIXES), size="sm",
                                           elem_id="query-cloud")
                run_btn = gr.Button("Search", variant="primary", size="sm")
                ctx.components["message"] = gr.Markdown("", elem_id="status")
                ctx.components["people"], ctx.components["person"] = people.build_picker()
                examples = list_examples(args.examples)
                if examples:
                    gr.Examples(examples=examples, inputs=[image_in], label="Example queries",
                                examples_per_page=12, elem_id="examples")
            with gr.Column(scale=6, min_width=480, elem_id="tabs-column"):
                # "wrap": a tab that does not fit goes to a second row of the tab bar, never
                # into Gradio's "⋯" menu, where a speaker would not see it (all fit in one row
                # at 1280 wide; see ui/theme.py).
                with gr.Tabs(selected=TABS[0].ID, overflow_behavior="wrap",
                             elem_id="centre-tabs") as tabs:
                    ctx.components["tabs"] = tabs
                    for tab in TABS:
                        with gr.Tab(tab.TITLE, id=tab.ID) as shown:
                            tab.build(ctx)
                        shown.select(None, js=RESIZE_JS)
            with gr.Column(scale=3, min_width=300, elem_id="results-column"):
                gr.Markdown("**Top-5 matches** (click one to compare in 3D)",
                            elem_id="matches-title")
                matches = gr.Gallery(label="Top-5 matches", show_label=False, columns=5,
                                     rows=1, height="auto", object_fit="contain",
                                     allow_preview=False, elem_id="matches")
                results_md = gr.Markdown(elem_id="results")
                ctx.components["matches"] = matches

        def render_matches(result):
            known = text.identity_known(result, gallery_identities)
            items = []
            for m in result.matches:
                colour = (None if not known else
                          (30, 170, 60) if m.pid == result.query_pid else (210, 40, 40))
                thumb = (m.thumbnail if m.thumbnail is not None
                         else np.full((128, 64, 3), 200, np.uint8))
                items.append((viz.framed(thumb, colour), f"#{m.rank} {m.similarity:.2f}"))
            return items, text.results_table(result, known)

        ctx.on_result(render_matches, [], [matches, results_md])
        ctx.finish_layout()

        # ------------------------------------------------------------------ the query event
        state, message = ctx.state, ctx["message"]
        view, pick = ctx["people"], ctx["person"]
        outputs = [state, message, image_in, view, pick, *dict.fromkeys(ctx.result_outputs)]
        inputs = {image_in, cloud_in, pick, *ctx.result_inputs}

        def make_query(source: str):
            """The callback of one query event; ``source``: ``image``, ``cloud``, ``either``
            (the Search button: the cloud file when one is loaded, else the photo) or
            ``person`` (another person of the photo picked)."""
            def on_query(data, progress=gr.Progress()):  # noqa: B008 - gradio injects it
                payload = data[cloud_in] if source == "cloud" else data[image_in]
                if source == "either" and not data[image_in]:
                    payload = data[cloud_in]
                path, name = upload_path(payload)
                if path is None:  # a cleared input
                    return {}
                try:
                    result = query(path, progress, name=name,
                                   person=data[pick] if source == "person" else None)
                except LiftError as e:
                    gr.Warning(str(e))
                    return {message: f"⚠️ {e}"}
                values = [data[c] for c in ctx.result_inputs]
                rendered = ctx.render_all(result, values)
                shown = {state: result, message: text.status_line(result),
                         **dict(zip(ctx.result_outputs, rendered, strict=True))}
                if source == "cloud":  # the photo no longer is the query
                    shown[image_in] = None
                shown[view], shown[pick] = people.picker_updates(
                    result, None if source == "cloud" else path)
                return shown
            return on_query

        # The query events run with preprocess=False: the upload arrives as a file payload and
        # our own reader (not the component's) reports a bad file as a readable warning.
        common = dict(inputs=inputs, outputs=outputs, api_visibility="private",
                      preprocess=False)
        run_btn.click(make_query("either"), **common)
        # A new photo (upload, paste, webcam, example click) runs at once; so does a cloud file
        # (the Search button runs the photo, or the cloud when no photo is shown).
        image_in.change(make_query("image"), trigger_mode="once", **common)
        cloud_in.upload(make_query("cloud"), **common)
        # Another person of a wide photo: from the menu, or a click on their box.
        pick.input(make_query("person"), **common)
        view.select(people.clicked, None, pick, api_visibility="private").then(
            make_query("person"), **common)

        add_endpoints(ctx, query)
    return demo

