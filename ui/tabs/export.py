"""The Export tab: the query's cloud, embedding and traces as files; the Open3D viewer."""

from __future__ import annotations

import tempfile

import gradio as gr

from viz.desktop import display_available, open_in_open3d

TITLE, ID = "Export", "downloads"


def build(ctx) -> None:
    from ognet.pipeline import export_query

    no_display = display_available()
    export_btn = gr.Button("Export cloud (.ply), embedding (.npy), traces (.npz)", size="sm")
    files = gr.File(label="files", file_count="multiple", interactive=False)
    export_md = gr.Markdown()
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

    def viewer(result):
        if result is None:
            return "Run a query first."
        return open_in_open3d(result.cloud, result.name)

    export_btn.click(export, inputs=[ctx.state], outputs=[files, export_md],
                     api_visibility="private")
    o3d_btn.click(viewer, inputs=[ctx.state], outputs=[o3d_md], api_visibility="private")
    if ctx.args.open3d:  # every query also opens in the desktop viewer
        ctx.on_result(lambda result: open_in_open3d(result.cloud, result.name), [], [o3d_md])
