"""The real app (the session's one ``python app.py``) through gradio_client: ``/search``,
``/galleries`` and ``/lift`` against what the pipeline gives in this process, bad files,
concurrent clients, and the one start-up error checked in a real process."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import free_port

REPO = Path(__file__).resolve().parent.parent


def build_synthetic_gallery(root: Path, model, pids, examples: bool = False) -> Path:
    """``root/gallery``: synthetic identities ``pids`` x cameras 1, 3 and 5 (Market-1501
    names, images kept in ``root/images`` so a match's cloud can be re-lifted), lifted by the
    real lifter and embedded by ``model`` (eval mode, 2048 points); with ``examples``, one
    more view of each identity in ``root/examples`` to query with."""
    import torch

    from ognet.gallery import GalleryIndex, encode_thumbnail
    from ognet.lift import get_lifter
    from ognet.pointcloud import sample_points
    from ognet.synth import Synthesizer, save_jpeg

    synth, lifter = Synthesizer(0), get_lifter()
    (root / "images").mkdir()
    if examples:
        (root / "examples").mkdir()
    feats, gallery_pids, cams, paths, thumbs = [], [], [], [], []
    for pid in pids:
        for cam in (0, 2, 4):
            img = synth.render(pid, cam, 0)
            path = root / "images" / f"{pid:04d}_c{cam + 1}s1_000000_00.jpg"
            save_jpeg(img, path)
            x = torch.from_numpy(sample_points(lifter(path).points, 2048, mode="stride"))[None]
            feats.append(model.extract(x)[0].numpy())
            gallery_pids.append(pid)
            cams.append(cam)
            paths.append(str(path))
            thumbs.append(encode_thumbnail(img))
        if examples:
            save_jpeg(synth.render(pid, 1, 5),
                      root / "examples" / f"{pid:04d}_c2s1_000005_00.jpg")
    GalleryIndex(np.stack(feats), gallery_pids, cams, image_paths=paths,
                 thumbnails=thumbs, meta={"lifting": lifter.lifting}).save(root / "gallery")
    return root / "gallery"


def build_small_assets(root: Path) -> tuple[Path, Path, Path]:
    """An untrained ognet_small checkpoint, a gallery of 3 synthetic identities x 3 cameras,
    and example queries of those identities (Market-1501 names)."""
    import torch

    from ognet import create_model
    from ognet.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("ognet_small", num_points=2048,
                         stage_points=[384, 192, 96, 48]).eval()
    ckpt = save_checkpoint(root / "model.safetensors", model)
    return ckpt, build_synthetic_gallery(root, model, (1, 2, 3), examples=True), root / "examples"


def check_top5(results):
    """The form of /search's answer: five hits, best first, each with its thumbnail (a
    128x64 JPEG) and ``confident``."""
    import base64
    import io

    from PIL import Image

    assert isinstance(results, list) and len(results) == 5
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    sims = [r["similarity"] for r in results]
    assert sims == sorted(sims, reverse=True)
    for r in results:
        assert set(r) == {"rank", "similarity", "pid", "camid", "confident", "image"}
        assert isinstance(r["pid"], int) and isinstance(r["camid"], int)
        assert isinstance(r["confident"], bool)
        head, data = r["image"].split(",", 1)
        assert head == "data:image/jpeg;base64"
        assert Image.open(io.BytesIO(base64.b64decode(data))).size == (64, 128)


def test_search_answers_what_the_pipeline_finds(client, examples, app_pipe):
    """/search's top-5 is the pipeline's for the same photo (run here, in this process), and
    a hit is confident exactly when above the gallery's calibrated threshold."""
    from gradio_client import handle_file

    for photo in examples[:2]:
        results = client.predict(handle_file(str(photo)), api_name="/search")
        check_top5(results)
        expected = app_pipe.run(photo).matches
        assert [(r["pid"], r["camid"]) for r in results] == [(m.pid, m.camid) for m in expected]
        np.testing.assert_allclose([r["similarity"] for r in results],
                                   [m.similarity for m in expected], atol=1e-3)
        threshold = app_pipe.gallery.calibration["threshold"]
        assert [r["confident"] for r in results] == [m.similarity > threshold
                                                     for m in expected]


def test_galleries_endpoint_and_the_gallery_searched(client, examples, app_args,
                                                     test_galleries):
    """/galleries lists each gallery with its size and its calibration, computed here from
    the gallery file itself; /search searches the one named (an unknown name is refused)."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from ognet.gallery import GalleryIndex, calibrate

    infos = client.predict(api_name="/galleries")
    assert [n for n, g in infos.items() if g["default"]] == [list(infos)[0]]
    own = GalleryIndex.load(test_galleries["own"])
    assert infos["own"]["images"] == len(own) and infos["own"]["people"] == "synthetic"
    assert infos["own"]["lifting"] == own.lifting == "person"  # as it was embedded
    expected = calibrate(own.features, own.pids, own.camids)
    for key in ("threshold", "false_match_rate", "true_match_rate", "same", "different"):
        assert infos["own"]["calibration"][key] == expected[key], key
    hits = client.predict(handle_file(str(examples[0])), "own", api_name="/search")
    assert hits[0]["pid"] == int(examples[0].name[:4]) and hits[0]["similarity"] > 0.999
    with pytest.raises(AppError, match="unknown gallery 'nowhere'"):
        client.predict(handle_file(str(examples[0])), "nowhere", api_name="/search")


def test_search_real_query(client, real_queries):
    from gradio_client import handle_file

    check_top5(client.predict(handle_file(str(real_queries[0])), api_name="/search"))


def test_lift_endpoint_and_its_landmarks(client, examples):
    """/lift's cloud is one point per pixel of the 128x64 crop, the person's points off the
    background plane (z = 0); its 2D landmarks are crop pixels, and the head, shoulders and
    hips it finds lie on the person's points (within 3 px: the foreground is the person's
    mask). Its estimates are the shipped gallery's lifting's, computed here independently."""
    from gradio_client import handle_file

    from ognet.assets import DEFAULT_GALLERY
    from ognet.gallery import GalleryIndex
    from ognet.lift import Lifter

    out = client.predict(handle_file(str(examples[0])), api_name="/lift")
    lifting = GalleryIndex.load(DEFAULT_GALLERY).lifting
    assert out["method"] == "pose" and out["lifting"] == lifting == "person"
    assert out["num_points"] == 8192 and len(out["points"]) == 8192
    points = np.array(out["points"])
    assert points.shape == (8192, 6)
    body = (np.abs(points[:, 2]) > 1e-4).reshape(128, 64)      # off the background plane
    assert abs(int(body.sum()) - out["foreground_points"]) <= 0.02 * 8192
    assert set(out["timings"]) >= {"pose", "fit", "raycast"}
    marks = np.array(out["landmarks_2d"])
    assert marks.shape == (33, 3)
    rows, cols = np.nonzero(body)
    for i in (0, 11, 12, 23, 24):        # nose, shoulders, hips (MediaPipe's numbering)
        x, y, _ = marks[i]
        assert 0 <= x < 64 and 0 <= y < 128, marks[i]
        off = np.hypot(cols - x, rows - y).min()
        assert off <= 3, f"landmark {i} at ({x:.0f}, {y:.0f}) is {off:.0f} px off the person"
    direct = Lifter(lifting=lifting)(examples[0])
    assert out["camera_pitch_deg"] == pytest.approx(direct.camera_pitch_deg, abs=0.01)
    assert out["lean_deg"] == pytest.approx(direct.lean_deg, abs=0.01)
    assert out["yaw_deg"] == pytest.approx(direct.yaw_deg, abs=0.01)
    assert np.allclose(out["betas"], direct.betas, atol=1e-4)
    assert out["height_m"] is None        # a crop alone has no absolute scale


def test_search_with_a_point_cloud_file(client, examples, tmp_path):
    """A .ply query skips lifting and finds the same matches as the photo it came from."""
    from gradio_client import handle_file

    from ognet.lift import lift_image
    from ognet.pointcloud import save_ply

    cloud = tmp_path / "query.ply"
    save_ply(cloud, lift_image(examples[0]).points)
    from_cloud = client.predict(handle_file(str(cloud)), api_name="/search")
    check_top5(from_cloud)
    from_photo = client.predict(handle_file(str(examples[0])), api_name="/search")
    assert [r["pid"] for r in from_cloud] == [r["pid"] for r in from_photo]


def test_open3d_viewer_explains_why_without_a_display(monkeypatch):
    from viz.desktop import display_available, open_in_open3d

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    why = open_in_open3d(np.zeros((10, 6), np.float32))
    assert "no desktop display" in why
    monkeypatch.setenv("DISPLAY", ":99")
    assert display_available() is None


def test_bad_files_give_clean_errors_and_the_app_goes_on(client, examples, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError
    from PIL import Image

    text = tmp_path / "notes.jpg"
    text.write_text("this is not an image\n" * 20)
    truncated = tmp_path / "cut.jpg"
    truncated.write_bytes(examples[0].read_bytes()[:300])
    empty_cloud = tmp_path / "empty.ply"
    empty_cloud.write_text("ply\nformat ascii 1.0\nelement vertex 0\nend_header\n")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), (120, 60, 30)).save(tiny)
    for bad, words in ((text, "not an image"), (truncated, "cut.jpg"), (empty_cloud, "points"),
                       (tiny, "too small")):
        with pytest.raises(AppError) as err:
            client.predict(handle_file(str(bad)), api_name="/search")
        message = str(err.value)
        assert words in message, message
        assert "Traceback" not in message
    check_top5(client.predict(handle_file(str(examples[-1])), api_name="/search"))


def test_concurrent_clients_get_their_own_answers(server, examples):
    """Four clients at once (different images) get the answers they get one at a time."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    images = [examples[i % len(examples)] for i in range(4)]
    clients = [Client(server, verbose=False) for _ in images]
    alone = [c.predict(handle_file(str(p)), api_name="/search") for c, p in zip(clients, images,
                                                                              strict=True)]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda cp: cp[0].predict(handle_file(str(cp[1])),
                                                           api_name="/search"),
                                 zip(clients, images, strict=True)))
    key = [[(r["pid"], r["camid"], round(r["similarity"], 3)) for r in res] for res in alone]
    assert [[(r["pid"], r["camid"], round(r["similarity"], 3)) for r in res]
            for res in together] == key


def test_missing_checkpoint_is_a_one_line_error(tmp_path, capsys):
    """``app.py --checkpoint MISSING`` exits with 2 and one ``error:`` line, no traceback (its
    ``main``, in this process: ``sys.exit(main())`` is all the script adds)."""
    app = load_app_module()
    assert app.main(["--checkpoint", str(tmp_path / "nope.safetensors"), "--port",
                     str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "checkpoint not found" in lines[0]


def show_last_module(page) -> None:
    """In the Layers tab (open), pick the last module and wait until its plot is drawn."""
    last = page.locator("#module input[type=number]")
    n_modules = int(last.get_attribute("max"))
    last.fill(str(n_modules))
    last.press("Enter")
    page.wait_for_function(
        "(n) => { const t = document.querySelector('#layerplot .annotation-text');"
        " return t && t.textContent.startsWith('module ' + n + ':'); }",
        arg=n_modules, timeout=30_000)
    page.wait_for_timeout(300)


# ---------------------------------------------------------------------------- the query event
def load_app_module():
    """``app.py`` as a module (it is a script at the repository's root)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("ognet_app", REPO / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def page_app(app_pipe, app_assets):
    """The page built in this process on the session's pipeline (its events called here)."""
    from ui import build_app

    args = load_app_module().parse_args(["--checkpoint", str(app_assets["checkpoint"]),
                                         "--examples", str(app_assets["examples"])])
    return build_app(app_pipe, args, {app_pipe.gallery_name: str(app_assets["gallery"])})


def query_chain(demo, elem_id: str, event: str) -> list:
    """The query listener of component ``elem_id``'s ``event`` and the stages it triggers."""
    fns = list(demo.fns.values())
    target = next(i for i, b in demo.blocks.items() if getattr(b, "elem_id", None) == elem_id)
    chain = [next(f for f in fns if (target, event) in f.targets)]
    while nxt := [f for f in fns if f.trigger_after == chain[-1]._id]:
        chain.append(nxt[0])
    return chain


def test_the_query_event_shows_the_top5_and_the_tabs_draw_after(page_app, examples):
    """The photo's event shows the top-5 and leaves the tabs to the stages after it: the
    histogram beside the matches, then the tab that is shown (the 3D view); a hidden tab
    (the walkthrough) is emptied and draws when it is opened, once. Once a newer query of the
    same page has started, nothing is drawn from the older result."""
    import gradio as gr

    chain = query_chain(page_app, "query-photo", "change")
    first, stages = chain[0], {s.name: s for s in chain[1:]}
    assert [s.name for s in chain[1:]] == ["draw_every_query", "draw_shown_tab"]
    by_id = {getattr(c, "elem_id", None): c for c in first.outputs}
    photo, state = by_id["query-photo"], first.outputs[0]
    shown_tab = next(c for c in first.inputs if isinstance(c, gr.State))
    request = gr.Request(session_hash="page-1")

    def ask(path):
        data = {c: None for c in first.inputs}
        data.update({photo: {"path": str(path), "orig_name": path.name}, shown_tab: "cloud"})
        return first.fn(request, data, gr.Progress())

    shown = ask(examples[0])
    result = shown[state]
    assert result.name == examples[0].name and len(shown[by_id["matches"]]) == 5
    assert shown[by_id["plot3d"]] == gr.skip(), "the query event drew the 3D view"
    assert shown[by_id["walkthrough"]] == page_app.blocks[by_id["walkthrough"]._id].value, \
        "a hidden tab keeps the last query's drawing"

    def draw(stage, result, tab="cloud"):
        values = [getattr(c, "value", None) for c in stage.inputs[2:]]
        out = stage.fn(request, result, tab, *values)
        return dict(zip(stage.outputs, out if len(stage.outputs) > 1 else [out], strict=True))

    drawn = draw(stages["draw_shown_tab"], result)
    cloud = drawn[by_id["plot3d"]]
    assert sum(len(t.x) for t in cloud.data if t.type == "scatter3d") == len(result.cloud)
    walkthrough = next(c for c in drawn if getattr(c, "elem_id", None) == "walkthrough")
    assert drawn[walkthrough] == gr.skip(), "a hidden tab was drawn"
    opening = next(f for f in page_app.fns.values() if f.name == "open_walkthrough")

    def open_walkthrough(result):
        values = [getattr(c, "value", None) for c in opening.inputs[1:]]
        tab, html = opening.fn(request, result, *values)
        assert tab == "walkthrough"
        return html

    assert "<iframe" in open_walkthrough(result)
    assert open_walkthrough(result) == gr.skip(), "drawn twice from one result"
    newer = ask(examples[3])[state]
    assert draw(stages["draw_shown_tab"], newer)[by_id["plot3d"]] != gr.skip()
    assert draw(stages["draw_shown_tab"], result)[by_id["plot3d"]] == gr.skip(), \
        "an older result was drawn over a newer"
    assert "<iframe" in open_walkthrough(newer)
