"""Shared fixtures: repository paths, the real Market-1501 queries in ../shared, and for the app
tests one app server and one Chromium for the whole session.

Session fixtures of the app (every app and browser test file uses these; none starts its own):

- ``app_args``: the flags of the one ``python app.py`` of the session: the bundled model and
  galleries when they ship (else an untrained model and a small synthetic gallery), and two
  test galleries of that model (:func:`build_test_galleries`): ``own``, which holds the
  synthetic example photos themselves (each one's true identity is its top match, with any
  model), and ``twins``, in which every person is there twice under two identities (its
  calibrated threshold is 1: no match can be confident);
- ``examples``: the synthetic example photos the app shows (identities of its gallery);
- ``app_pipe``: the same checkpoint and default gallery in this process (``ReIDPipeline``),
  to compute what the app should answer independently of the app's code;
- ``server``: the URL of that app, started once (a real subprocess: its start-up is part of
  what the browser sees);
- ``client``: a ``gradio_client.Client`` of it;
- ``browser``: one headless Chromium (skips when ``/usr/bin/chromium`` is absent);
- ``new_page``: ``new_page(width=1280, height=720, theme="light")`` opens the app in a fresh
  page of that browser, closed after the test;
- ``query_page``: ``query_page(width=1280, height=720, theme="light")``, the app with the first
  example's query shown, one page per size and theme shared by the whole session.

Helpers for browser tests: :func:`upload_photo`, :func:`wait_for_matches`, :func:`open_tab`.
Every browser test carries the ``browser`` marker (``-m 'not browser'`` leaves them out).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parent.parent
REAL_QUERIES = REPO_ROOT.parent / "shared" / "real-queries"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]

torch.set_num_threads(2)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def real_queries() -> list[Path]:
    """The four real query crops; skips when ../shared/real-queries is absent (a fresh clone)."""
    paths = sorted(REAL_QUERIES.glob("market1501_query_*.png"))
    if not paths:
        pytest.skip("../shared/real-queries is not present")
    return paths


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (``make test`` runs two workers with ``--dist loadgroup``) every test
    of the app server goes to one worker: the session still starts one server and one
    Chromium, and the other worker runs the rest meanwhile (the app's tests mostly wait on
    the page)."""
    for item in items:
        if "server" in item.fixturenames:
            item.add_marker(pytest.mark.xdist_group("app"))


# ---------------------------------------------------------------------------- the app server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundled_assets() -> bool:
    """Whether the demo checkpoint and gallery ship (then the app tests use them)."""
    from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY

    return DEFAULT_CHECKPOINT.exists() and (DEFAULT_GALLERY / "index.safetensors").exists()


def build_test_galleries(root: Path, pipe, examples: list[Path]) -> tuple[Path, Path]:
    """``root/own`` and ``root/twins`` (see the module docstring), embedded by ``pipe``
    (a ``ReIDPipeline``) as the app embeds a query: ``own`` holds each synthetic example
    photo and two renders of its identity by other cameras; ``twins`` those renders, each
    also under the identity ``pid + 5000``."""
    from ognet.gallery import GalleryIndex, encode_thumbnail
    from ognet.pipeline import parse_market_name
    from ognet.synth import Synthesizer, save_jpeg

    synth = Synthesizer(0)
    (root / "renders").mkdir(parents=True, exist_ok=True)
    photos, renders = [], []
    for example in examples:
        pid, cam = parse_market_name(example.name)
        photos.append((example, pid, cam - 1))
        for other in (cam % 6 + 1, (cam + 2) % 6 + 1):
            path = root / "renders" / f"{pid:04d}_c{other}s1_000007_00.jpg"
            save_jpeg(synth.render(pid, other, 7), path)
            renders.append((path, pid, other - 1))
    meta = {"model": pipe.model.config.name, "num_points": pipe.model.config.num_points,
            "z_zero": pipe.z_zero, "people": "synthetic", "lifting": pipe.gallery.lifting}

    def save(items, folder):
        from PIL import Image

        feats = [pipe.run(str(path)).embedding for path, _, _ in items]
        thumbs = [encode_thumbnail(np.asarray(Image.open(path).convert("RGB")))
                  for path, _, _ in items]
        GalleryIndex(np.stack(feats), [pid for _, pid, _ in items],
                     [cam for _, _, cam in items], image_paths=[str(p) for p, _, _ in items],
                     thumbnails=thumbs, meta=meta).save(folder)
        return folder

    twins = renders + [(path, pid + 5000, cam) for path, pid, cam in renders]
    return save(photos + renders, root / "own"), save(twins, root / "twins")


@pytest.fixture(scope="session")
def app_assets(tmp_path_factory) -> dict:
    """The session app's checkpoint, default gallery and synthetic examples: the bundled
    ones when they ship, else an untrained model and a small synthetic gallery (built by
    ``tests/test_app.py``'s ``build_small_assets``)."""
    from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR

    if bundled_assets():
        return {"checkpoint": DEFAULT_CHECKPOINT, "gallery": DEFAULT_GALLERY,
                "examples": EXAMPLES_DIR, "bundled": True}
    from test_app import build_small_assets

    ckpt, gallery, examples = build_small_assets(tmp_path_factory.mktemp("app_assets"))
    return {"checkpoint": ckpt, "gallery": gallery, "examples": examples, "bundled": False}


@pytest.fixture(scope="session")
def app_pipe(app_assets):
    """The app's checkpoint and default gallery, loaded in this process."""
    from ognet.pipeline import ReIDPipeline

    return ReIDPipeline(app_assets["checkpoint"], app_assets["gallery"], device="cpu")


@pytest.fixture(scope="session")
def test_galleries(app_pipe, examples, tmp_path_factory) -> dict[str, Path]:
    """``{"own": folder, "twins": folder}`` (:func:`build_test_galleries`)."""
    own, twins = build_test_galleries(tmp_path_factory.mktemp("test_galleries"), app_pipe,
                                      examples)
    return {"own": own, "twins": twins}


@pytest.fixture(scope="session")
def app_args(app_assets, test_galleries) -> list[str]:
    """Flags of the session's app: its assets (the app's defaults when bundled), the test
    galleries after the default one."""
    base = [] if app_assets["bundled"] else [
        "--checkpoint", str(app_assets["checkpoint"]), "--examples",
        str(app_assets["examples"])]
    return [*base, "--gallery", str(app_assets["gallery"]), str(test_galleries["own"]),
            str(test_galleries["twins"])]


@pytest.fixture(scope="session")
def examples(app_assets) -> list[Path]:
    """The synthetic example photos of the session's app (Market-style names)."""
    return sorted(p for p in Path(app_assets["examples"]).iterdir()
                  if p.suffix.lower() in (".jpg", ".png"))


def start_app(args: list[str], timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """``python app.py ARGS`` on a free port (CPU, no display); returns it and its URL once
    the page answers. Fails the test with the app's output when it exits first."""
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONUNBUFFERED="1")
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "app.py"), *args, "--device",
                             "cpu", "--port", str(port)], cwd=REPO_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with {proc.returncode}:\n{proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            pass
        if time.time() > deadline:
            stop_app(proc)
            pytest.fail(f"the app did not answer within {timeout:.0f} s")
        time.sleep(0.5)


def stop_app(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def server(app_args):
    """The session's one ``python app.py``; yields its URL."""
    proc, url = start_app(app_args)
    try:
        yield url
    finally:
        stop_app(proc)


@pytest.fixture(scope="session")
def client(server):
    from gradio_client import Client

    # a generous timeout: on a loaded 2-core machine the config alone can take seconds
    return Client(server, verbose=False, httpx_kwargs={"timeout": 180})


# ---------------------------------------------------------------------------- the browser
@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session (Debian's, never a downloaded one)."""
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.skip("no Chromium at /usr/bin/chromium (scripts/setup.sh installs Debian's "
                    "chromium package where the distribution has one)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser, server):
    """``new_page(width=1280, height=720, theme="light")``: the app in a fresh page, its
    query photo's upload ready; closed after the test."""
    pages = []

    def open_page(width: int = 1280, height: int = 720, theme: str = "light"):
        page = browser.new_page(viewport={"width": width, "height": height})
        pages.append(page)
        page.goto(server + ("/?__theme=dark" if theme == "dark" else "/"))
        page.wait_for_selector("#query-photo input[type=file]", state="attached",
                               timeout=120_000)
        return page

    yield open_page
    for page in pages:
        page.close()


@pytest.fixture(scope="session")
def query_page(browser, server, examples):
    """``query_page(width=1280, height=720, theme="light")``: a page of the app at that size
    and theme with the first example's query shown and every event done; one per size and
    theme for the session, shared by the browser test files (a test that changes a control
    sets it back)."""
    opened = {}

    def get(width: int = 1280, height: int = 720, theme: str = "light"):
        key = (width, height, theme)
        if key not in opened:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(server + ("/?__theme=dark" if theme == "dark" else "/"))
            page.wait_for_selector("#query-photo input[type=file]", state="attached",
                                   timeout=120_000)
            upload_photo(page, examples[0])
            page.wait_for_selector("#plot3d .js-plotly-plot .main-svg", timeout=120_000)
            wait_for_matches(page)
            page.wait_for_function("() => { const gd = document.querySelector('#plot3d "
                                   ".js-plotly-plot'); return gd && gd._fullData "
                                   "&& gd._fullData.length > 0; }", timeout=120_000)
            page.wait_for_timeout(200)
            page.wait_for_function(f"() => !({BUSY})()", timeout=120_000)
            opened[key] = page
        return opened[key]

    yield get
    for page in opened.values():
        page.close()


def upload_photo(page, path) -> None:
    """Put a photo into the query box (as a user's drop or upload)."""
    page.locator("#query-photo input[type=file]").set_input_files(str(path))


def wait_for_matches(page, timeout: float = 120_000) -> None:
    """Until the five match thumbnails are shown."""
    page.wait_for_function("document.querySelectorAll('#matches img').length >= 5",
                           timeout=timeout)


#: Whether any event is pending or running (Gradio's status trackers).
BUSY = """() => [...document.querySelectorAll('.wrap, .pending')].some(w =>
  !w.classList.contains('hide') && (w.classList.contains('translucent')
                                    || w.classList.contains('pending')))"""


def open_tab(page, name: str) -> None:
    """Click a tab's button (every tab is one in the tab bar; test_app_browser checks it) and
    wait until what opening it started (drawing it from the current result) is done."""
    tab = page.get_by_role("tab", name=name)
    tab.click()
    page.wait_for_function("(t) => t.getAttribute('aria-selected') === 'true'",
                           arg=tab.element_handle(), timeout=30_000)
    page.wait_for_timeout(150)  # the tab's select event is sent, its status shown
    page.wait_for_function(f"() => !({BUSY})()", timeout=120_000)
    page.wait_for_timeout(100)
