"""The Export tab: the query's cloud, embedding and traces as files; a turntable of the cloud
for slides (an animated GIF, ``viz.turntable``); the Open3D viewer."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import gradio as gr

from viz.desktop import display_available, open_in_open3d
from viz.turntable import FRAME_MS, FRAMES, save_turntable

TITLE, ID = "Export", "downloads"


def build(ctx) -> None:
    from ognet.pipeline import export_query

    no_display = display_available()
    export_btn = gr.Button("Export cloud (.ply), embedding (.npy), traces (.npz)", size="sm")
    files = gr.File(label="files", file_count="multiple", interactive=False, height=140,
                    elem_id="export-files")
    export_md = gr.Markdown()
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            turn_btn = gr.Button("Turntable of the query's cloud (.gif, for slides)", size="sm",
                                 elem_id="turntable-button")
            turn_file = gr.File(label="turntable", interactive=False, height=90,
                                elem_id="turntable-file")
            turn_md = gr.Markdown(f"One turn in {FRAMES} frames of {FRAME_MS} ms; the 3D "
                                  "tab's background switch applies.", elem_id="turntable-note")
        turn_view = gr.Image(label="turntable", show_label=False, interactive=False, scale=1,
                             height=240, elem_id="turntable-view")
    o3d_btn = gr.Button("Open in Open3D viewer", size="sm", interactive=no_display is None)
    o3d_md = gr.Markdown(no_display or "Opens a desktop window.")

    def export(result):
        if result is None:
            gr.Warning("Run a query first.")
            return None, ""
        paths = export_query(result, tempfile.mkdtemp(prefix="ognet_export_"))
        return [str(p) for p in paths], (
            f"{len(result.cloud)} points, a {len(result.embedding)}-d embedding, the traces "
            f"of {len(result.trace.modules)} modules.")

    def turntable(result, show_background, progress=gr.Progress()):  # noqa: B008
        if result is None:
            gr.Warning("Run a query first.")
            return None, None, gr.skip()
        progress(0.1, desc="rendering the turntable")
        cloud = result.cloud
        if not show_background and result.foreground is not None:
            cloud = cloud[result.foreground]
        stem = Path(result.name or "query").stem
        t0 = time.perf_counter()
        path = save_turntable(cloud, Path(tempfile.mkdtemp(prefix="ognet_turntable_"))
                              / f"{stem}_turntable.gif")
        return str(path), str(path), (f"{len(cloud)} points, {FRAMES} frames, made in "
                                      f"{time.perf_counter() - t0:.1f} s.")

    def viewer(result):
        if result is None:
            return "Run a query first."
        return open_in_open3d(result.cloud, result.name)

    export_btn.click(export, inputs=[ctx.state], outputs=[files, export_md],
                     api_visibility="private")
    turn_btn.click(turntable, inputs=[ctx.state, ctx["show_background"]],
                   outputs=[turn_file, turn_view, turn_md], api_visibility="private")
    o3d_btn.click(viewer, inputs=[ctx.state], outputs=[o3d_md], api_visibility="private")
    # A new query empties the files and the turntable (the page resets every panel an event
    # writes, ``ui.blocks``).
    if ctx.args.open3d:  # every query also opens in the desktop viewer
        ctx.on_result(lambda result: open_in_open3d(result.cloud, result.name), [], [o3d_md])
