"""The README's pictures of the app: ``assets/screenshot.png`` (the 3D tab at 1280x720, light)
and ``assets/walkthrough.webp`` (the Walkthrough tab's five steps, then a turn of the
turntable), taken in headless Chromium from a running app; with ``--tabs DIR``, instead, a
screenshot of every tab at 1280x720 and 1920x1080, light and dark, into DIR (to look at
before a change of the page is called done).

    .venv/bin/python app.py &                       # the app to photograph
    .venv/bin/python scripts/app_screenshots.py [--url http://127.0.0.1:7860]
                                                [--example assets/examples/X.jpg]
                                                [--tabs DIR]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parent.parent
STEPS = [("input", "1 "), ("FPS", "2 "), ("KNN graph", "3 "), ("groups", "4 "),
         ("non-local", "5 ")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860")
    ap.add_argument("--example", default=None, help="query photo (default: the first example)")
    ap.add_argument("--out", default=str(REPO / "assets"))
    ap.add_argument("--width", type=int, default=420, help="width of the animation (px)")
    ap.add_argument("--tabs", help="write every tab at both sizes and themes into this folder "
                                   "(and nothing else)")
    args = ap.parse_args()
    example = args.example or sorted((REPO / "assets" / "examples").glob("*.jpg"))[0]
    out = Path(args.out)
    if args.tabs:
        every_tab(args.url, Path(example), Path(args.tabs))
        return
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(args.url)
        page.wait_for_selector("#query-photo input[type=file]", state="attached",
                               timeout=120_000)
        page.locator("#query-photo input[type=file]").set_input_files(str(example))
        page.wait_for_selector("#plot3d .js-plotly-plot .main-svg", timeout=120_000)
        page.wait_for_function("document.querySelectorAll('#matches img').length >= 5",
                               timeout=120_000)
        page.wait_for_timeout(2500)
        page.screenshot(path=str(out / "screenshot.png"))

        page.get_by_role("tab", name="Walkthrough").click()
        inner = page.locator("#walkthrough iframe").element_handle().content_frame()
        inner.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot');"
                                " return gd && gd._transitionData"
                                " && gd._transitionData._frames.length > 5; }",
                                timeout=120_000)
        page.wait_for_timeout(1500)
        frame = page.frame_locator("#walkthrough iframe")
        box = page.locator("#walkthrough iframe").bounding_box()
        frames, durations = [], []

        def grab(ms: int) -> None:
            page.mouse.move(2, 2)  # no hover effects in the picture
            page.wait_for_timeout(1200)
            frames.append(Image.open(io.BytesIO(page.screenshot(clip=box))).convert("RGB"))
            durations.append(ms)

        def goto_step(label: str, caption: str) -> None:
            b = frame.locator(".slider-label", has_text=label).first.bounding_box()
            page.mouse.click(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2)
            frame.locator(".annotation-text", has_text=caption).first.wait_for(timeout=60_000)

        for label, caption in STEPS:
            goto_step(label, caption)
            grab(2200)
        goto_step(*STEPS[0])
        for i in range(0, 90, 10):  # the turntable's own frames, one in ten
            inner.evaluate("(name) => Plotly.animate(document.querySelector('.js-plotly-plot'),"
                           " [name], {frame: {duration: 0, redraw: true},"
                           " transition: {duration: 0}, mode: 'immediate'})", f"turn{i}")
            grab(350)
        browser.close()
    w, h = frames[0].size
    size = (args.width, round(h * args.width / w))
    frames = [f.resize(size, Image.LANCZOS) for f in frames]
    frames[0].save(out / "walkthrough.webp", save_all=True, append_images=frames[1:],
                   duration=durations, loop=0, quality=72, method=6)
    print(f"wrote {out / 'screenshot.png'} and {out / 'walkthrough.webp'} "
          f"({len(frames)} frames)")


#: What to do in a tab before its picture (the tabs that show something only when asked).
TAB_ACTIONS = {
    # drawn when opened: its frame arrives after the server has drawn it, then plays
    "Walkthrough": lambda page: page.wait_for_selector("#walkthrough iframe", timeout=60_000),
    "Compare": lambda page: page.locator("#matches .thumbnail-item").first.click(),
    "Explain": lambda page: page.locator("#explain-button").click(),
    "What if": lambda page: page.locator("#whatif-change").get_by_text("greyscale").click(),
    "Export": lambda page: page.get_by_role("button", name="Export cloud").click(),
}


def every_tab(url: str, example: Path, folder: Path) -> None:
    """``{W}x{H}-{theme}-{tab}.png`` of every tab after one query, and ``-empty`` of the page
    before it, at 1280x720 and 1920x1080, light and dark."""
    import sys

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(REPO))
    from ui.tabs import TABS

    folder.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--disable-gpu"])
        for width, height in ((1280, 720), (1920, 1080)):
            for theme in ("light", "dark"):
                name = f"{width}x{height}-{theme}"
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url + ("/?__theme=dark" if theme == "dark" else "/"))
                page.wait_for_selector("#query-photo input[type=file]", state="attached",
                                       timeout=120_000)
                page.wait_for_timeout(1500)
                page.screenshot(path=str(folder / f"{name}-empty.png"))
                page.locator("#query-photo input[type=file]").set_input_files(str(example))
                page.wait_for_function("document.querySelectorAll('#matches img').length >= 5",
                                       timeout=120_000)
                page.wait_for_timeout(6000)
                for tab in TABS:
                    if tab.TITLE != "Compare":  # Compare opens itself on a match's click
                        page.get_by_role("tab", name=tab.TITLE).click()
                    page.wait_for_timeout(800)
                    if tab.TITLE in TAB_ACTIONS:
                        TAB_ACTIONS[tab.TITLE](page)
                        page.wait_for_timeout(6000)
                    page.mouse.move(2, 2)
                    page.screenshot(path=str(folder / f"{name}-{tab.ID}.png"))
                page.close()
        browser.close()
    print(f"wrote {len(list(folder.glob('*.png')))} screenshots into {folder}")


if __name__ == "__main__":
    main()
