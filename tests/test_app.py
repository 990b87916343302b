"""The real app in a subprocess: ``/search`` and ``/lift`` through gradio_client, bad files,
start-up errors, and a real headless Chromium driving the UI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port, open_tab, upload_photo, wait_for_matches

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
                 thumbnails=thumbs).save(root / "gallery")
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
    assert isinstance(results, list) and len(results) == 5
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]
    sims = [r["similarity"] for r in results]
    assert sims == sorted(sims, reverse=True)
    assert all(-1.0001 <= s <= 1.0001 for s in sims)
    for r in results:
        assert set(r) == {"rank", "similarity", "pid", "camid", "image"}
        assert isinstance(r["pid"], int) and isinstance(r["camid"], int)
        assert r["image"].startswith("data:image/jpeg;base64,")


def test_search_example_query(client, examples):
    from gradio_client import handle_file

    results = client.predict(handle_file(str(examples[0])), api_name="/search")
    check_top5(results)


def test_search_real_query(client, real_queries):
    from gradio_client import handle_file

    check_top5(client.predict(handle_file(str(real_queries[0])), api_name="/search"))


def test_lift_endpoint(client, examples):
    from gradio_client import handle_file

    out = client.predict(handle_file(str(examples[0])), api_name="/lift")
    assert out["method"] in ("pose", "fallback")
    assert out["num_points"] == 8192 and len(out["points"]) == 8192
    assert len(out["points"][0]) == 6
    assert 0 < out["foreground_points"] < 8192
    assert set(out["timings"]) >= {"pose", "fit", "raycast"}


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


def test_missing_checkpoint_is_a_one_line_error(tmp_path):
    proc = subprocess.run([sys.executable, str(REPO / "app.py"), "--checkpoint",
                           str(tmp_path / "nope.safetensors"), "--port", str(free_port())],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
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


@pytest.mark.browser
def test_browser_upload_3d_results_and_layer_explorer(new_page, examples, tmp_path):
    from PIL import Image

    shot = tmp_path / "app.png"
    page = new_page(1280, 720)
    upload_photo(page, examples[0])
    page.wait_for_selector("#plot3d .js-plotly-plot", timeout=60_000)
    wait_for_matches(page)
    assert "similarity" in page.locator("#results").inner_text()
    open_tab(page, "Layers")
    show_last_module(page)
    page.wait_for_timeout(200)
    page.screenshot(path=str(shot))
    pixels = np.asarray(Image.open(shot).convert("L"), dtype=np.float32)
    assert pixels.shape == (720, 1280)
    assert pixels.std() > 10, "the screenshot is blank"
    if os.environ.get("OGNET_SCREENSHOT_DIR"):
        out = Path(os.environ["OGNET_SCREENSHOT_DIR"])
        out.mkdir(parents=True, exist_ok=True)
        Image.open(shot).save(out / "app_layers.png")
