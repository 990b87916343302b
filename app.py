"""OG-Net demo: a pedestrian photo -> colored 3D point cloud -> OG-Net -> top-5 gallery matches.

    python app.py [--checkpoint X.safetensors] [--gallery DIR] [--device auto|cpu|cuda]
                  [--body-model-dir DIR] [--host 127.0.0.1] [--port 7860] [--share] [--open3d]

Thin on purpose: the callbacks call ``viz.session.Pipeline`` (library glue) and the figure
builders of ``viz``. API endpoints: ``/lift`` and ``/search`` (see README).
"""

from __future__ import annotations

import argparse
import base64
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import gradio as gr
import numpy as np

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR  # noqa: E402

VIEWS = ["sampled points", "knn graph", "groups", "non-local graph", "feature norm"]
CSS = """
.gradio-container {max-width: 1280px !important; padding-top: 4px !important}
#header p {margin: 0 !important; font-size: 0.9em}
#status {min-height: 1.5em}
#status p {margin: 0 !important}
#examples img {height: 72px !important; width: 36px !important; object-fit: cover}
#examples .gallery-item {min-width: 0 !important}
#examples .container {width: 36px !important; height: 72px !important}
#matches .grid-container {grid-template-columns: repeat(5, minmax(0, 1fr)) !important;
  grid-template-rows: none !important; grid-auto-rows: auto !important; gap: 4px !important}
#matches .thumbnail-item {aspect-ratio: 1 / 2 !important; height: auto !important}
#matches .caption-label {font-size: 11px !important; padding: 0 3px !important;
  max-width: 100% !important; opacity: 0.85 !important}
"""


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="OG-Net checkpoint (.safetensors with its .json); default: the demo model")
    p.add_argument("--gallery", default=str(DEFAULT_GALLERY),
                   help="gallery index folder or .safetensors; default: the demo gallery")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--body-model-dir", default=None,
                   help="official SMPL files (smplx layout); default: the free body")
    p.add_argument("--examples", default=str(EXAMPLES_DIR),
                   help="folder of example query images")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="public gradio.live link (off)")
    p.add_argument("--open3d", action="store_true",
                   help="also open every query's cloud in Open3D's desktop viewer")
    p.add_argument("--concurrency", type=int, default=2,
                   help="queries processed at the same time (others queue)")
    return p.parse_args(argv)


def display_available() -> str | None:
    """``None`` when a desktop display exists, else why the Open3D viewer cannot open."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "Open3D viewer unavailable: no desktop display (DISPLAY / WAYLAND_DISPLAY unset)."


def open_in_open3d(points: np.ndarray, title: str = "OG-Net query") -> str:
    """Show a cloud in Open3D's desktop viewer in a child process; returns a status line."""
    why = display_available()
    if why:
        return why
    from ognet.pointcloud import save_ply

    path = Path(tempfile.mkdtemp(prefix="ognet_o3d_")) / "cloud.ply"
    save_ply(path, points)
    code = ("import sys, open3d as o3d; "
            "o3d.visualization.draw_geometries([o3d.io.read_point_cloud(sys.argv[1])], "
            "window_name=sys.argv[2], width=640, height=960)")
    subprocess.Popen([sys.executable, "-c", code, str(path), title],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return f"Opened {len(points)} points in the Open3D viewer."


def build_app(pipe, args):
    import viz
    from ognet.lift import LiftError
    from ognet.pipeline import CLOUD_SUFFIXES

    n_modules = len(pipe.model.config.stage_points)
    no_display = display_available()
    examples = list_examples(args.examples)
    gallery_identities = set(pipe.gallery.pids.tolist())
    info = pipe.describe()

    # ------------------------------------------------------------------ helpers
    def data_url(i: int) -> str:
        data = pipe.gallery.thumbnails[i]
        return ("data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
                if data else "")

    def query(path, progress=None, name=None):
        """A file path (photo or .ply/.pcd) -> QueryResult; raises LiftError for bad input."""
        if path is None:
            raise LiftError("Drop a pedestrian photo (or a .ply / .pcd cloud) first.")
        name = name or Path(path).name
        try:
            result = pipe.run(path, name=name, progress=progress)
        except ValueError as e:  # LiftError is a ValueError; so are unreadable cloud files
            raise LiftError(str(e)) from None
        if len(result.cloud) < 64:
            raise LiftError(f"{name}: only {len(result.cloud)} points; a person cloud needs "
                            "thousands.")
        result.name = name
        return result

    def known(result) -> bool:
        return result.query_pid is not None and result.query_pid in gallery_identities

    def results_table(result) -> str:
        head = (f"Query identity **{result.query_pid}** (from the file name)" if known(result)
                else "Query identity unknown: matches are not marked right or wrong.")
        rows = ["| rank | similarity | pid | camera |", "|---:|---:|---:|---:|"]
        for m in result.matches:
            mark = "" if not known(result) else (" ✔" if m.pid == result.query_pid else " ✘")
            rows.append(f"| {m.rank} | {m.similarity:.3f} | {m.pid}{mark} | {m.camid} |")
        t = " · ".join(f"{k} {v * 1000:.0f} ms" for k, v in result.timings.items())
        return head + "\n\n" + "\n".join(rows) + f"\n\n{t}"

    def gallery_items(result):
        items = []
        for m in result.matches:
            colour = (None if not known(result) else
                      (30, 170, 60) if m.pid == result.query_pid else (210, 40, 40))
            thumb = (m.thumbnail if m.thumbnail is not None
                     else np.full((128, 64, 3), 200, np.uint8))
            items.append((viz.framed(thumb, colour), f"#{m.rank} {m.similarity:.2f}"))
        return items

    def lifting_panel(result):
        lift = result.lift
        if lift is None:
            return None, (f"**{result.name}**: a point cloud file ({len(result.cloud)} "
                          "points); no lifting.")
        img = viz.lifting_overlay(lift.image, lift.mask, lift.foreground, lift.landmarks_2d)
        timings = " · ".join(f"{k} {v * 1000:.0f} ms" for k, v in lift.timings.items())
        return img, (f"**method: {lift.method}** — {lift.message}\n\n"
                     f"{int(lift.foreground.sum())} body points, "
                     f"{int((~lift.foreground).sum())} background points\n\n"
                     f"stages: {timings}\n\nblue: person mask · yellow: outline of the pixels "
                     "lifted onto the body · red/green: MediaPipe 2D skeleton")

    def cloud_fig(result, show_bg, show_mesh, camera, size):
        if result is None:
            return None
        mesh = None
        if show_mesh and result.lift is not None:
            lift = result.lift
            mesh = (lift.mesh_vertices, lift.mesh_faces, lift.vertex_colors)
        return viz.cloud_figure(result.cloud, foreground=result.foreground,
                                show_background=show_bg, mesh=mesh, point_size=size,
                                camera=camera)

    def layer_fig(result, module, view, centre, index, camera, size):
        if result is None:
            return None, ""
        module = int(module)
        xyz = (result.trace.points.numpy()[:, :3] if module == 0
               else result.trace.modules[module - 1].out_xyz.numpy())
        point, note = None, ""
        if centre != "by index":
            point = viz.landmark_point(result.lift, result.cloud, centre, xyz)
            if point is None:
                note = "No body landmarks for this query: the centre is chosen by index. "
        if point is None:
            point = int(np.clip(int(index or 0), 0, len(xyz) - 1))
        fig = viz.layer_figure(result.trace, module, view, point=point, camera=camera,
                               point_size=size)
        return fig, note + f"centre: point {point} of {len(xyz)}"

    # ------------------------------------------------------------------ callbacks
    def run(path, cloud_path, show_bg, show_mesh, camera, size, module, view, centre, index,
            progress=None):
        # The query events run with preprocess=False: the upload arrives as a file payload and
        # our own reader (not the component's) reports a bad file as a readable warning.
        path, name = upload_path(cloud_path) if cloud_path else upload_path(path)
        if path is None:  # a cleared input
            return (gr.skip(),) * 8 + ("",)
        try:
            result = query(path, progress, name=name)
        except LiftError as e:
            gr.Warning(str(e))
            return (gr.skip(),) * 8 + (f"⚠️ {e}",)
        overlay, lift_md = lifting_panel(result)
        fig3d = cloud_fig(result, show_bg, show_mesh, camera, size)
        lfig, lnote = layer_fig(result, module, view, centre, index, camera, size)
        if args.open3d:
            open_in_open3d(result.cloud, result.name)
        top = result.matches[0]
        status = (f"**{result.name}** · {result.lift.method if result.lift else 'cloud file'}"
                  f" · top-1 pid {top.pid} ({top.similarity:.3f})")
        return (result, overlay, lift_md, fig3d, gallery_items(result), results_table(result),
                lfig, lnote, status)

    def run_button(path, cloud_path, show_bg, show_mesh, camera, size, module, view, centre,
                   index, progress=gr.Progress()):  # noqa: B008 - gradio injects the tracker
        return run(path, cloud_path, show_bg, show_mesh, camera, size, module, view, centre,
                   index, progress=progress)

    def run_image(path, show_bg, show_mesh, camera, size, module, view, centre, index,
                  progress=gr.Progress()):  # noqa: B008
        return run(path, None, show_bg, show_mesh, camera, size, module, view, centre, index,
                   progress=progress)

    def run_cloud(cloud_path, show_bg, show_mesh, camera, size, module, view, centre, index,
                  progress=gr.Progress()):  # noqa: B008
        return run(None, cloud_path, show_bg, show_mesh, camera, size, module, view, centre,
                   index, progress=progress)

    def select_match(result, show_bg, camera, size, evt: gr.SelectData):
        if result is None or evt.index is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        m = result.matches[int(evt.index)]
        try:
            points = match_cloud(pipe, m)
        except (ValueError, OSError) as e:
            gr.Warning(f"Cannot show match #{m.rank} in 3D: {e}")
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        left = viz.cloud_figure(result.cloud, foreground=result.foreground,
                                show_background=show_bg, point_size=size, camera=camera,
                                title=f"query: {result.name}", height=430)
        right = viz.cloud_figure(points, point_size=size, camera=camera, height=430,
                                 title=f"match #{m.rank}: pid {m.pid}, cam {m.camid} "
                                       f"(similarity {m.similarity:.3f})")
        return left, right, f"Match #{m.rank} beside the query.", gr.Tabs(selected="compare")

    def export(result):
        if result is None:
            gr.Warning("Run a query first.")
            return None, ""
        from ognet.pointcloud import save_ply

        out = Path(tempfile.mkdtemp(prefix="ognet_export_"))
        stem = Path(result.name).stem or "query"
        paths = [out / f"{stem}_cloud.ply", out / f"{stem}_embedding.npy",
                 out / f"{stem}_trace.npz"]
        save_ply(paths[0], result.cloud)
        np.save(paths[1], result.embedding)
        np.savez_compressed(paths[2], **result.trace.to_numpy())
        return [str(p) for p in paths], (
            f"{len(result.cloud)} points, a {len(result.embedding)}-d embedding, the traces "
            f"of {len(result.trace.modules)} modules.")

    def viewer(result):
        if result is None:
            return "Run a query first."
        return open_in_open3d(result.cloud, result.name)

    # ------------------------------------------------------------------ API endpoints
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
                 "camid": m.camid, "image": data_url(m.index)} for m in result.matches]

    # ------------------------------------------------------------------ layout
    with gr.Blocks(title="OG-Net: person re-id in 3D") as demo:
        state = gr.State(None)
        gr.Markdown(f"### OG-Net · person re-identification in the 3D space  \n"
                    f"{header(info)}", elem_id="header")
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=250):
                image_in = gr.Image(label="Query photo: drop, upload, paste, webcam",
                                    type="filepath", sources=["upload", "clipboard", "webcam"],
                                    height=240)
                cloud_in = gr.File(label=".ply / .pcd cloud (skips lifting)",
                                   file_types=list(CLOUD_SUFFIXES), type="filepath", height=60)
                run_btn = gr.Button("Search", variant="primary", size="sm")
                status = gr.Markdown("", elem_id="status")
                if examples:
                    gr.Examples(examples=examples, inputs=[image_in], label="Example queries",
                                examples_per_page=8, elem_id="examples")
            with gr.Column(scale=6, min_width=480):
                with gr.Tabs(selected="cloud") as tabs:
                    with gr.Tab("3D", id="cloud"):
                        plot3d = gr.Plot(label="Colored point cloud", elem_id="plot3d")
                        with gr.Row(equal_height=True):
                            with gr.Column(min_width=150, scale=2):
                                show_bg = gr.Checkbox(value=True, label="background points",
                                                      container=False)
                                show_mesh = gr.Checkbox(value=False, label="fitted body mesh",
                                                        container=False)
                            camera = gr.Radio([(k if k != "three-quarter" else "3/4", k)
                                               for k in viz.CAMERAS], value="three-quarter",
                                              label="camera", min_width=260, scale=3)
                            size = gr.Slider(0.5, 6, value=2, step=0.5, label="point size",
                                             min_width=120, scale=1)
                    with gr.Tab("Lifting", id="lifting"):
                        with gr.Row():
                            overlay = gr.Image(label="mask + 2D skeleton", height=440,
                                               interactive=False)
                            lift_md = gr.Markdown()
                    with gr.Tab("Layers", id="layers"):
                        with gr.Row():
                            module = gr.Slider(0, n_modules, value=0, step=1, label="module",
                                               info=f"0 = input, 1..{n_modules}",
                                               elem_id="module", min_width=150)
                            view = gr.Dropdown(VIEWS, value="sampled points", label="show",
                                               min_width=120)
                            centre = gr.Dropdown(["by index", *viz.LANDMARKS], value="head",
                                                 label="centre", min_width=110)
                            index = gr.Number(0, precision=0, label="index", minimum=0,
                                              min_width=70)
                        layer_plot = gr.Plot(label="layer", elem_id="layerplot")
                        layer_note = gr.Markdown()
                    with gr.Tab("Compare", id="compare"):
                        compare_note = gr.Markdown("Click a match to see its cloud here.")
                        with gr.Row():
                            query_plot = gr.Plot(label="query")
                            match_plot = gr.Plot(label="match")
                    with gr.Tab("Export", id="downloads"):
                        export_btn = gr.Button("Export cloud (.ply), embedding (.npy), "
                                               "traces (.npz)", size="sm")
                        files = gr.File(label="files", file_count="multiple",
                                        interactive=False)
                        export_md = gr.Markdown()
                        o3d_btn = gr.Button("Open in Open3D viewer", size="sm",
                                            interactive=no_display is None)
                        o3d_md = gr.Markdown(no_display or "Opens a desktop window.")
            with gr.Column(scale=4, min_width=340):
                matches = gr.Gallery(label="Top-5 matches (click one for 3D)", columns=5,
                                     rows=1, height=215, object_fit="contain",
                                     allow_preview=False, elem_id="matches")
                results_md = gr.Markdown(elem_id="results")

        controls = [show_bg, show_mesh, camera, size]
        layer_controls = [module, view, centre, index]
        outs = [state, overlay, lift_md, plot3d, matches, results_md, layer_plot, layer_note,
                status]
        rest = [*controls, *layer_controls]
        run_btn.click(run_button, inputs=[image_in, cloud_in, *rest], outputs=outs,
                      api_visibility="private", preprocess=False)
        # A new photo (upload, paste, webcam, example click) runs at once; so does a cloud file.
        image_in.change(run_image, inputs=[image_in, *rest], outputs=outs,
                        api_visibility="private", preprocess=False, trigger_mode="once")
        cloud_in.upload(run_cloud, inputs=[cloud_in, *rest], outputs=outs,
                        api_visibility="private", preprocess=False)
        for c in controls:
            c.change(cloud_fig, inputs=[state, *controls], outputs=[plot3d],
                     api_visibility="private", show_progress="hidden")
        for c in [*layer_controls, camera, size]:
            c.change(layer_fig, inputs=[state, *layer_controls, camera, size],
                     outputs=[layer_plot, layer_note], api_visibility="private",
                     show_progress="hidden")
        matches.select(select_match, inputs=[state, show_bg, camera, size],
                       outputs=[query_plot, match_plot, compare_note, tabs],
                       api_visibility="private")
        export_btn.click(export, inputs=[state], outputs=[files, export_md],
                         api_visibility="private")
        o3d_btn.click(viewer, inputs=[state], outputs=[o3d_md], api_visibility="private")

        # API-only endpoints (hidden components): JSON results, plain file inputs.
        with gr.Row(visible=False):
            api_file = gr.File(type="filepath")
            api_json = gr.JSON()
            api_lift_btn = gr.Button()
            api_search_btn = gr.Button()
        api_lift_btn.click(api_lift, inputs=[api_file], outputs=[api_json], api_name="lift")
        api_search_btn.click(api_search, inputs=[api_file], outputs=[api_json],
                             api_name="search")
    return demo


def list_examples(folder) -> list[str]:
    return sorted(str(p) for p in Path(folder).glob("*")
                  if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))


def header(info: dict) -> str:
    return (f"**{info['variant']}** ({info['parameters'] / 1e6:.2f} M parameters, "
            f"{info['input_points']} points in) · device **{info['device']}** · gallery "
            f"**{info['gallery_size']}** images ({info['gallery_identities']} identities) · "
            f"body model: {info['body_model']}")


def upload_path(value) -> tuple[str | None, str | None]:
    """A component's raw file payload (or a path) -> (path on disk, the user's file name)."""
    if value is None:
        return None, None
    if isinstance(value, dict):
        path = value.get("path")
        return path, value.get("orig_name") or (Path(path).name if path else None)
    return str(value), Path(str(value)).name


def match_cloud(pipe, m) -> np.ndarray:
    """The 3D cloud of a match: its prepared cloud when the gallery has one, else its source
    photo (or thumbnail) lifted."""
    from ognet.pointcloud import load_cloud

    path = pipe.gallery.cloud_paths[m.index]
    if path and Path(path).is_file():
        return load_cloud(path)["points"]
    if m.image_path and Path(m.image_path).is_file():
        return pipe.lifter(m.image_path).points
    if m.thumbnail is None:
        raise ValueError("the gallery stores no cloud, image or thumbnail for it")
    return pipe.lifter(m.thumbnail).points


def main(argv=None) -> int:
    args = parse_args(argv)
    from ognet.pipeline import PipelineError, ReIDPipeline

    t0 = time.perf_counter()
    for label, path in (("checkpoint", Path(args.checkpoint)), ("gallery", Path(args.gallery))):
        if not path.exists():
            print(f"error: {label} not found: {path} (pass --{label})", file=sys.stderr)
            return 2
    try:
        pipe = ReIDPipeline(args.checkpoint, args.gallery, device=args.device,
                            body_model_dir=args.body_model_dir)
        pipe.warm_up()
        info = pipe.describe()
    except (PipelineError, OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    print(f"ognet app: {header(info)}", flush=True)
    print(f"loaded and warmed up in {time.perf_counter() - t0:.1f} s", flush=True)

    demo = build_app(pipe, args)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                theme=gr.themes.Soft(), css=CSS, show_error=False,
                allowed_paths=[str(Path(args.examples).resolve())], footer_links=["api"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
