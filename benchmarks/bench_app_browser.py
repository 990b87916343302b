"""How soon a user sees the top-5: the page in headless Chromium against ``/search`` itself.

    .venv/bin/python benchmarks/bench_app_browser.py [--repeats 3] [--baseline OTHER_CHECKOUT]
                                                     [app flags: --checkpoint X --gallery D]

A real ``python app.py`` (and, with ``--baseline``, the ``app.py`` of another checkout, e.g.
an older commit from ``git worktree add``, measured the same way, interleaved); for each of
the example photos, ``--repeats`` times:

- ``/search``: request -> answer through ``gradio_client`` (upload, lifting, features,
  search, thumbnails), the API's own time;
- the page: the photo put into the query box (the page's clock just before) -> the five
  match thumbnails of that photo loaded on screen; -> the 3D view drawn anew with its
  cloud; -> no event pending any more (every tab drawn).

Each upload waits until the page is idle after the previous one. Prints medians and the
ratio to ``/search`` (issue 24's target: top-5 within 2.5x ``/search``, or ``/search`` +
0.8 s) as a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

#: In the page: times (performance.now(), ms) of the five thumbnails of a query named
#: ``name`` loaded, and of the 3D view drawn anew (another ``data`` than before) with points.
WATCH = """(name) => { window.t = {};
  const plot = () => document.querySelector('#plot3d .js-plotly-plot');
  const before = plot() ? plot().data : null;
  const check = () => {
    const t = window.t;
    const imgs = [...document.querySelectorAll('#matches img')];
    if (!('matches' in t) && document.querySelector('#status').innerText.includes(name)
        && imgs.length >= 5 && imgs.every(i => i.complete && i.naturalWidth > 0))
      t.matches = performance.now();
    const gd = plot();
    if (!('cloud' in t) && gd && gd.data !== before && gd._fullData
        && gd._fullData.some(d => d.type === 'scatter3d' && d.x && d.x.length > 100))
      t.cloud = performance.now();
  };
  window.watcher && window.watcher.disconnect();
  window.watcher = new MutationObserver(check);
  window.watcher.observe(document.body, {subtree: true, childList: true, attributes: true});
  window.checkTimer && clearInterval(window.checkTimer);
  window.checkTimer = setInterval(check, 20);
}"""
BUSY = """() => [...document.querySelectorAll('.wrap, .pending')].some(w =>
  !w.classList.contains('hide') && (w.classList.contains('translucent')
                                    || w.classList.contains('pending')))"""


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(root: Path, flags: list[str]) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False", PYTHONPATH=str(root))
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, str(root / "app.py"), *flags, "--port", str(port)],
                            cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 300
    while True:
        if proc.poll() is not None:
            raise SystemExit(f"{root / 'app.py'} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return proc, url
        except OSError:
            if time.time() > deadline:
                proc.kill()
                raise SystemExit(f"{root / 'app.py'} did not answer in 300 s") from None
            time.sleep(0.3)


def settle(page, quiet_s: float = 1.0, timeout_s: float = 300) -> float:
    """Wait until no event has been pending for ``quiet_s``; the page's clock (ms) when the
    last one ended."""
    deadline, quiet_since, ended = time.time() + timeout_s, None, None
    while time.time() < deadline:
        if page.evaluate(BUSY):
            quiet_since = None
        elif quiet_since is None:
            quiet_since, ended = time.time(), page.evaluate("performance.now()")
        elif time.time() - quiet_since >= quiet_s:
            return ended
        time.sleep(0.05)
    raise SystemExit("the page kept working for minutes")


def page_query(page, photo: Path) -> dict:
    """Upload ``photo``; seconds from the upload (the page's clock just before the file is
    set) to the top-5 loaded, to the 3D view drawn, to the page idle."""
    page.evaluate(WATCH, photo.name)
    upload = page.evaluate("performance.now()")
    page.locator("#query-photo input[type=file]").set_input_files(str(photo))
    page.wait_for_function("() => 'matches' in window.t", timeout=300_000)
    idle = settle(page)
    t = page.evaluate("window.t")
    return {"matches": (t["matches"] - upload) / 1000,
            "cloud": (t["cloud"] - upload) / 1000 if "cloud" in t else float("nan"),
            "idle": (idle - upload) / 1000}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="rounds over the example photos")
    ap.add_argument("--baseline", help="another checkout whose app.py is measured the same way")
    ap.add_argument("--checkpoint")
    ap.add_argument("--gallery")
    ap.add_argument("--examples")
    args = ap.parse_args()

    from gradio_client import Client, handle_file
    from PIL import Image
    from playwright.sync_api import sync_playwright

    from ognet.assets import EXAMPLES_DIR

    flags = ["--device", "cpu"]
    for flag in ("checkpoint", "gallery", "examples"):
        if getattr(args, flag):
            flags += [f"--{flag}", getattr(args, flag)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_browser_"))
    photos = []
    for p in sorted(Path(args.examples or EXAMPLES_DIR).glob("*.jpg")):
        q = tmp / p.name  # a copy: the page sees a user's upload, not an example click
        Image.open(p).convert("RGB").save(q, quality=95)
        photos.append(q)
    apps = {"this checkout": REPO}
    if args.baseline:
        apps["baseline"] = Path(args.baseline).resolve()
    servers = {name: start(root, flags) for name, root in apps.items()}
    search = {name: [] for name in apps}
    shown = {name: [] for name in apps}
    try:
        clients = {name: Client(url, verbose=False) for name, (_, url) in servers.items()}
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium",
                                         args=["--no-sandbox", "--disable-gpu"])
            pages = {}
            for name, (_, url) in servers.items():
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.goto(url)
                page.wait_for_selector("#query-photo input[type=file]", state="attached",
                                       timeout=120_000)
                page_query(page, photos[-1])  # warm-up: plotly loaded, first figures drawn
                clients[name].predict(handle_file(str(photos[-1])), api_name="/search")
                pages[name] = page
            for _ in range(args.repeats):
                for photo in photos:
                    for name in apps:  # interleaved: the same load for each
                        t0 = time.perf_counter()
                        clients[name].predict(handle_file(str(photo)), api_name="/search")
                        search[name].append(time.perf_counter() - t0)
                        shown[name].append(page_query(pages[name], photo))
            browser.close()
    finally:
        for proc, _ in servers.values():
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()

    def med(values):
        return statistics.median(values)

    print("| app | /search (API) | top-5 on screen | ratio | /search + | 3D view drawn | "
          "every tab drawn |\n|---|---:|---:|---:|---:|---:|---:|")
    for name in apps:
        s = med(search[name])
        m = med([r["matches"] for r in shown[name]])
        c = med([r["cloud"] for r in shown[name]])
        i = med([r["idle"] for r in shown[name]])
        print(f"| {name} | {s * 1000:.0f} ms | {m * 1000:.0f} ms | {m / s:.2f}x | "
              f"{(m - s) * 1000:+.0f} ms | {c * 1000:.0f} ms | {i * 1000:.0f} ms |")
    load = os.getloadavg()
    print(f"\nmedians of {args.repeats} x {len(photos)} uploads per app (interleaved), "
          f"Chromium at 1280x720; {os.cpu_count()} CPU cores "
          f"({platform.processor() or platform.machine()}), load average "
          f"{load[0]:.1f} at the end.")


if __name__ == "__main__":
    main()
