"""The page: header, query inputs (left), the tabs (centre), the matches (right), the API.

One query event (Search, a new photo, a cloud file, another person, another gallery) runs the
pipeline once, keeps the result in ``ctx.state`` and shows the top-5 with the gallery it was
searched in and whether any match is confident; then the tab that is shown (the 3D view
unless another is open) draws from the state, and every other tab when it is opened
(:meth:`ui.context.AppContext.wire_query`). A failed or cleared query resets every
panel and says why once, in the status line under the Search button. A newer query of the
same page always wins over an older one still running (:class:`ui.context.Freshness`).
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

import viz
from ui import galleries, people, text
from ui.api import add_endpoints
from ui.calibration import CalibrationPlot
from ui.context import AppContext, StaleQuery, session_of, upload_path
from ui.tabs import TABS
from ui.theme import RESIZE_JS

#: The frame of a match when the query's identity is known: the same person, another one.
RIGHT, WRONG = (30, 170, 60), (210, 40, 40)
#: What the status line says when there is nothing to search.
NOTHING = "Drop a pedestrian photo (or a .ply / .pcd cloud) first."
#: Example captions by what the folder holds.
EXAMPLE_LABELS = {"synthetic": "Synthetic people (rendered; synthetic gallery)",
                  "real": "Real people (campus video; campus gallery)"}


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


def frame_colour(match, query_pid, known: bool):
    """Green when the match is the query's identity, red when not; none when unknown."""
    if not known:
        return None
    return RIGHT if match.pid == query_pid else WRONG


def build_app(pipe, args, gallery_paths: dict | None = None) -> gr.Blocks:
    """The page for ``pipe`` (a ``ReIDPipeline`` holding one or more galleries);
    ``gallery_paths``: where each gallery was loaded from (to name the shipped ones)."""
    from ognet.lift import LiftError
    from ognet.pipeline import CLOUD_SUFFIXES

    infos = galleries.describe(pipe, gallery_paths or {})
    histograms = {name: CalibrationPlot(info.calibration) for name, info in infos.items()}
    identities = {name: set(g.pids.tolist()) for name, g in pipe.galleries.items()}
    folders = galleries.example_folders(args)
    query_kind = galleries.QueryKinds(folders)

    def query(path, progress=None, name=None, person=None, gallery=None):
        """A file path (photo or .ply/.pcd) -> QueryResult; raises LiftError for bad input.
        ``person``: which of a wide photo's people to search for (default: the largest);
        ``gallery``: the gallery's name (default: the pipeline's)."""
        if path is None:
            raise LiftError(NOTHING)
        name = name or Path(path).name
        try:
            result = pipe.run(path, name=name, progress=progress, person=person,
                              gallery=gallery or None)
        except ValueError as e:  # LiftError is a ValueError; so are unreadable cloud files
            raise LiftError(str(e)) from None
        result.name = name
        return result

    with gr.Blocks(title="OG-Net: person re-id in 3D") as demo:
        ctx = AppContext(pipe=pipe, args=args, state=gr.State(None),
                         selected=gr.State(TABS[0].ID))
        gr.Markdown(text.title_line(), elem_id="header")
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
                run_btn = gr.Button("Search", variant="primary", size="sm", elem_id="search")
                message = gr.Markdown("", elem_id="status")
                ctx.components["message"] = message
                ctx.components["people"], ctx.components["person"] = people.build_picker()
                with gr.Column(elem_id="examples"):
                    for kind, photos in folders:
                        gr.Examples(examples=photos, inputs=[image_in], examples_per_page=12,
                                    label=EXAMPLE_LABELS.get(kind, "Example queries"),
                                    elem_id=f"examples-{kind or 'other'}")
            with gr.Column(scale=6, min_width=480, elem_id="tabs-column"):
                # "wrap": a tab that does not fit goes to a second row of the tab bar, never
                # into Gradio's "⋯" menu, where a speaker would not see it (all fit in one row
                # at 1280 wide; see ui/theme.py).
                with gr.Tabs(selected=TABS[0].ID, overflow_behavior="wrap",
                             elem_id="centre-tabs") as tabs:
                    ctx.components["tabs"] = tabs
                    for tab in TABS:
                        with gr.Tab(tab.TITLE, id=tab.ID) as shown:
                            ctx.tab = tab.ID
                            tab.build(ctx)
                            ctx.tab = None
                        shown.select(None, js=RESIZE_JS)
                        ctx.tabs[tab.ID] = shown
            with gr.Column(scale=3, min_width=300, elem_id="results-column"):
                gr.Markdown("**Top-5 matches** (click one to compare in 3D), searched in",
                            elem_id="matches-title")
                gallery = gr.Dropdown([(info.label, name) for name, info in infos.items()],
                                      value=pipe.gallery_name, label="gallery searched",
                                      show_label=False, container=False, interactive=True,
                                      elem_id="gallery")
                matches = gr.Gallery(label="Top-5 matches", show_label=False, columns=5,
                                     rows=1, height="auto", object_fit="contain",
                                     allow_preview=False, elem_id="matches")
                confidence = gr.Markdown("", elem_id="confidence")
                gallery_md = gr.Markdown(infos[pipe.gallery_name].line, elem_id="gallery-line")
                results_md = gr.Markdown(elem_id="results")
                histogram = gr.Plot(histograms[pipe.gallery_name](), label="calibration",
                                    show_label=False,
                                    elem_id="calibration")
                ctx.components.update(matches=matches, gallery=gallery)
        gr.Markdown(text.credits(pipe.describe()), elem_id="credits")
        # the histogram marks the query's best match: drawn right after the top-5
        ctx.on_result(lambda result: histograms[result.gallery](result.matches[0].similarity),
                      [], [histogram], every_query=True)

        ctx.finish_layout()
        ctx.wire_tabs()

        # ------------------------------------------------------------------ the query event
        state = ctx.state
        view, pick = ctx["people"], ctx["person"]
        shown_with_matches = [matches, results_md, confidence, gallery_md]
        first = [state, message, image_in, view, pick, *shown_with_matches]
        panels = [c for c in ctx.panels if c not in first]
        # each renderer's tab (a group of no tab is drawn right after the top-5, always)
        tab_of = {c: r.tab for r in ctx.renderers if r.tab is not None for c in r.outputs}
        outputs = [*first, *panels]
        inputs = {image_in, cloud_in, pick, gallery, ctx.selected}

        def matches_shown(result, kind: str):
            """(gallery items, results table, confidence line, gallery line + notice);
            ``kind``: the query's (``galleries.QueryKinds``)."""
            info = infos[result.gallery]
            known = text.identity_known(result, identities[result.gallery])
            items = []
            for m in result.matches:
                thumb = (m.thumbnail if m.thumbnail is not None
                         else np.full((128, 64, 3), 200, np.uint8))
                items.append((viz.framed(thumb, frame_colour(m, result.query_pid, known)),
                              f"#{m.rank} {m.similarity:.2f}" + (" ✓" if m.confident else "")))
            note = galleries.notice(kind, info)
            return (items, text.results_table(result, known),
                    galleries.confidence_line(result, info),
                    info.line + (f"  \n{note}" if note else ""))

        def emptied(why: str, gallery_name: str) -> dict:
            """Every panel back to its built value, and why, once."""
            info = infos.get(gallery_name) or infos[pipe.gallery_name]
            hidden_view, hidden_pick = people.picker_updates(None, None)
            return {state: None, message: f"⚠️ {why}" if why != NOTHING else NOTHING,
                    image_in: gr.skip(), view: hidden_view, pick: hidden_pick,
                    matches: None, results_md: "", confidence: "", gallery_md: info.line,
                    **dict(zip(panels, ctx.empty_values(panels), strict=True)),
                    histogram: histograms[info.name]()}

        def skipped() -> dict:
            return dict.fromkeys(outputs, gr.skip())

        def make_query(source: str):
            """The callback of one query event; ``source``: ``image`` (a new photo),
            ``clear`` (the photo removed), ``cloud``, ``either`` (the Search button and a
            new gallery: the photo when one is shown, else the cloud file) or ``person``
            (another person of the photo picked)."""
            def on_query(request: gr.Request, data, progress=gr.Progress()):  # noqa: B008
                session = session_of(request)
                chosen = data[gallery] if data[gallery] in infos else pipe.gallery_name
                payload = data[cloud_in] if source == "cloud" else data[image_in]
                if source == "either" and not data[image_in]:
                    payload = data[cloud_in]
                path, name = upload_path(payload)
                if source == "image" and path is None:
                    return skipped()  # the photo box emptied by a query (its own x: "clear")
                # a new photo's change event comes twice: the second is not a new query
                token = ctx.freshness.start(session, (path, chosen) if source == "image"
                                            else None)
                if token is None:
                    return skipped()
                if path is None:  # nothing to search: the x, or Search / a gallery alone
                    ctx.freshness.finish(session, token, None)
                    return emptied(NOTHING, chosen)

                def report(fraction, desc):  # between the stages: stop when overtaken
                    if not ctx.freshness.newest(session, token):
                        raise StaleQuery
                    progress(fraction, desc=desc)

                try:
                    result = query(path, report, name=name, gallery=chosen,
                                   person=data[pick] if source == "person" else None)
                except StaleQuery:
                    return skipped()
                except LiftError as e:
                    return emptied(str(e), chosen) if ctx.freshness.finish(
                        session, token, None) else skipped()
                if not ctx.freshness.finish(session, token, result):
                    return skipped()  # a newer query started meanwhile: it answers
                shown = {state: result, message: text.status_line(result),
                         **dict(zip(shown_with_matches,
                                    matches_shown(result, query_kind(path, name)), strict=True)),
                         image_in: None if source == "cloud" else gr.skip()}
                shown[view], shown[pick] = people.picker_updates(
                    result, None if source == "cloud" else path)
                # the shown tab draws next; a hidden one is emptied until it is opened
                for c, value in zip(panels, ctx.empty_values(panels), strict=True):
                    soon = c in tab_of and (tab_of[c] == data[ctx.selected]
                                            or tab_of[c] not in ctx.tabs)
                    shown[c] = gr.skip() if soon else value
                return shown
            return on_query

        # The query events run with preprocess=False: the upload arrives as a file payload and
        # our own reader (not the component's) reports a bad file as a readable message.
        # trigger_mode "multiple": a newer photo starts at once (the older one is dropped).
        common = dict(inputs=inputs, outputs=outputs, api_visibility="private",
                      preprocess=False, trigger_mode="multiple",
                      show_progress_on=[matches, message])
        for trigger, source in ((run_btn.click, "either"), (gallery.input, "either"),
                                (image_in.change, "image"), (image_in.clear, "clear"),
                                (cloud_in.upload, "cloud"), (pick.input, "person")):
            ctx.wire_query(trigger(make_query(source), **common))
        # Another person of a wide photo: a click on their box.
        ctx.wire_query(view.select(people.clicked, None, pick, api_visibility="private").then(
            make_query("person"), **common))

        def forget(request: gr.Request):  # a closed page: its session's tokens go
            ctx.freshness.forget(session_of(request))

        demo.unload(forget)

        add_endpoints(ctx, query, infos)
    return demo
