"""Shared fixtures: repository paths, the real Market-1501 queries in ../shared, and for the app
tests one app server and one Chromium for the whole session.

Session fixtures of the app (every app and browser test file uses these; none starts its own):

- ``app_args``: the flags of the one ``python app.py`` of the session (the bundled model and
  galleries when they ship, else an untrained model and a small synthetic gallery);
- ``examples``: the synthetic example photos the app shows (identities of its gallery);
- ``server``: the URL of that app, started once (a real subprocess: its start-up is part of
  what the browser sees);
- ``client``: a ``gradio_client.Client`` of it;
- ``browser``: one headless Chromium (skips when ``/usr/bin/chromium`` is absent);
- ``new_page``: ``new_page(width=1280, height=720, theme="light")`` opens the app in a fresh
  page of that browser, closed after the test.

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


# ---------------------------------------------------------------------------- the app server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bundled_assets() -> bool:
    """Whether the demo checkpoint and gallery ship (then the app tests use them)."""
    from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY

    return DEFAULT_CHECKPOINT.exists() and (DEFAULT_GALLERY / "index.safetensors").exists()


@pytest.fixture(scope="session")
def app_args(tmp_path_factory) -> list[str]:
    """Flags of the session's app: the app's defaults when the bundled assets ship, else an
    untrained model with a small synthetic gallery and its examples (``tests/test_app.py``'s
    ``build_small_assets``)."""
    if bundled_assets():
        return []
    from test_app import build_small_assets

    ckpt, gallery, examples = build_small_assets(tmp_path_factory.mktemp("app_assets"))
    return ["--checkpoint", str(ckpt), "--gallery", str(gallery), "--examples", str(examples)]


@pytest.fixture(scope="session")
def examples(app_args) -> list[Path]:
    """The synthetic example photos of the session's app (Market-style names)."""
    from ognet.assets import EXAMPLES_DIR

    folder = Path(app_args[app_args.index("--examples") + 1]) if "--examples" in app_args \
        else EXAMPLES_DIR
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".png"))


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


def upload_photo(page, path) -> None:
    """Put a photo into the query box (as a user's drop or upload)."""
    page.locator("#query-photo input[type=file]").set_input_files(str(path))


def wait_for_matches(page, timeout: float = 120_000) -> None:
    """Until the five match thumbnails are shown."""
    page.wait_for_function("document.querySelectorAll('#matches img').length >= 5",
                           timeout=timeout)


def open_tab(page, name: str) -> None:
    """Click a tab's button (every tab is one in the tab bar; test_app_browser checks it)."""
    page.get_by_role("tab", name=name).click()
    page.wait_for_timeout(300)
