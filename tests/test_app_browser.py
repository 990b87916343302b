"""The app in a real headless Chromium at projector sizes (1920x1080, 1280x720), light and
dark: layout checked by measured bounding boxes, every tab's button in the window (none in
the overflow menu), the walkthrough played, the full-screen toggle, the Layers tab. One app
server and one browser for the whole file.

Set ``OGNET_SCREENSHOT_DIR`` to keep a screenshot of each size and theme.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import open_tab, upload_photo, wait_for_matches
from test_app import show_last_module

SIZES = [(1920, 1080), (1280, 720)]
THEMES = ["light", "dark"]

pytestmark = pytest.mark.browser

#: Visible boxes of the page, measured in the browser: every line of text outside plots and
#: frames (with whether an ancestor that clips its overflow cuts it), every plot / image /
#: frame, every component block.
MEASURE = """() => {
  const shown = (el) => { const s = getComputedStyle(el); const r = el.getBoundingClientRect();
    return s.visibility !== 'hidden' && s.display !== 'none' && s.opacity !== '0'
      && r.width > 1 && r.height > 1; };
  const box = (r) => ({x: r.left, y: r.top, w: r.width, h: r.height});
  const clipper = (el) => { for (let a = el.parentElement; a; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (/(hidden|clip|auto|scroll)/.test(s.overflowX + s.overflowY)) return a; }
    return null; };
  const texts = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el) continue;
    if (el.closest('.js-plotly-plot, svg, script, style, iframe, .sr-only, .hide, footer'))
      continue;
    let hidden = false;
    for (let a = el; a; a = a.parentElement) if (!shown(a) && a !== document.body) {
      hidden = true; break; }
    if (hidden) continue;
    const range = document.createRange(); range.selectNodeContents(node);
    const c = clipper(el), cr = c && c.getBoundingClientRect();
    for (const r of range.getClientRects()) {
      if (r.width < 1 || r.height < 1) continue;
      const clipped = !!cr && (r.left < cr.left - 1 || r.right > cr.right + 1
                               || r.top < cr.top - 1 || r.bottom > cr.bottom + 1);
      texts.push({text: node.textContent.trim().slice(0, 40), clipped,
                  block: (el.closest('.block[id]') || {}).id || '', ...box(r)});
    }
  }
  for (const el of document.querySelectorAll('input[type=text], input:not([type])'))
    if (shown(el) && el.value && el.scrollWidth > el.clientWidth + 1)
      texts.push({text: el.value.slice(0, 40), clipped: true, block: '',
                  ...box(el.getBoundingClientRect())});
  const media = [];
  for (const el of document.querySelectorAll('.js-plotly-plot, img, iframe, video'))
    if (shown(el)) media.push({id: (el.closest('[id]:not([id^="html-"])') || {}).id || el.tagName,
                               tag: el.tagName,
                               ...box(el.getBoundingClientRect())});
  const blocks = [];
  for (const el of document.querySelectorAll('.block'))
    if (shown(el)) blocks.push({id: el.id || '', ...box(el.getBoundingClientRect())});
  return {texts, media, blocks, vw: innerWidth, vh: innerHeight};
}"""


def overlap(a, b) -> tuple[float, float]:
    """Width and height of the intersection of two boxes (px; <= 0: none)."""
    return (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]),
            min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]))


def overlaps(a, b, px: float = 2.0) -> bool:
    w, h = overlap(a, b)
    return w > px and h > px


def inside(a, b, slack: float = 1.0) -> bool:
    """Box ``a`` lies within box ``b``."""
    return (a["x"] >= b["x"] - slack and a["y"] >= b["y"] - slack
            and a["x"] + a["w"] <= b["x"] + b["w"] + slack
            and a["y"] + a["h"] <= b["y"] + b["h"] + slack)


def area(a) -> float:
    return a["w"] * a["h"]


def check_layout(m: dict, plot_id: str) -> list[str]:
    """Problems of a measured page (empty: none): text lines overlapping one another, cut by
    their container or covering a plot/image; ``plot_id``'s plot outside the window or
    smaller than any other component."""
    problems = []
    screen = {"x": 0, "y": 0, "w": m["vw"], "h": m["vh"]}
    texts, media = m["texts"], m["media"]
    for i, a in enumerate(texts):
        if a["clipped"]:
            problems.append(f"text cut by its container: {a['text']!r}")
        for b in texts[i + 1:]:
            if overlaps(a, b):
                problems.append(f"texts overlap: {a['text']!r} / {b['text']!r}")
        for p in media:
            if overlaps(a, p) and a["block"] != "matches":
                problems.append(f"text {a['text']!r} covers {p['tag']} of #{p['id']}")
    plots = [p for p in media if p["id"] == plot_id]
    if not plots:
        return [*problems, f"no plot in #{plot_id}"]
    plot = plots[0]
    if not inside(plot, screen):
        problems.append(f"#{plot_id} is not inside the window: {plot}")
    for b in m["blocks"] + media:
        if b is not plot and not inside(plot, b) and area(b) > area(plot):
            problems.append(f"#{b['id']} ({b['w']:.0f}x{b['h']:.0f}) is larger than "
                            f"#{plot_id} ({plot['w']:.0f}x{plot['h']:.0f})")
    return problems


@pytest.fixture(scope="module", params=[(w, h, t) for w, h in SIZES for t in THEMES],
                ids=lambda v: f"{v[0]}x{v[1]}-{v[2]}")
def page(request, browser, server, examples):
    """A page at one size and theme with one query shown (its 3D tab open)."""
    width, height, theme = request.param
    page = browser.new_page(viewport={"width": width, "height": height})
    page.goto(server + ("/?__theme=dark" if theme == "dark" else "/"))
    page.wait_for_selector("#query-photo input[type=file]", state="attached", timeout=120_000)
    upload_photo(page, examples[0])
    page.wait_for_selector("#plot3d .js-plotly-plot .main-svg", timeout=120_000)
    wait_for_matches(page)
    page.wait_for_timeout(400)
    page.shot_name = f"{width}x{height}-{theme}"
    yield page
    page.close()


def screenshot(page, tab: str) -> None:
    folder = os.environ.get("OGNET_SCREENSHOT_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{page.shot_name}-{tab}.png"))


def test_3d_tab_layout(page):
    """The 3D view is inside the window and the largest component; no text overlaps another
    or a plot/photo, none is cut."""
    open_tab(page, "3D")
    m = page.evaluate(MEASURE)
    screenshot(page, "3d")
    assert check_layout(m, "plot3d") == []
    plot = next(p for p in m["media"] if p["id"] == "plot3d")
    assert plot["h"] >= 0.6 * m["vh"] and plot["w"] >= 0.45 * m["vw"], plot
    # the query photo shows whole, not under a label
    photo = [p for p in m["media"] if p["id"] == "query-photo"]
    assert photo and not any(overlaps(t, photo[0]) for t in m["texts"])
    assert "similarity" in page.locator("#results").inner_text()


def test_layers_tab_layout_and_colours(page):
    """The Layers tab's plot fits the window, its caption sits above the cloud, and the points
    carry the photo's colours (not one grey)."""
    open_tab(page, "Layers")
    show_last_module(page)
    m = page.evaluate(MEASURE)
    screenshot(page, "layers")
    assert check_layout(m, "layerplot") == []
    colours = page.evaluate("""() => {
      const gd = document.querySelector('#layerplot .js-plotly-plot');
      return gd.data[0].marker.color; }""")
    # The last module's input holds as few points as the model's last stage keeps (48 for
    # the shipped demo model): most of them must carry their own colour.
    assert isinstance(colours, list) and len(set(colours)) >= min(50, len(colours) // 2), \
        "context points are one colour"
    caption = page.locator("#layerplot .annotation").bounding_box()
    bar = page.locator("#layerplot .modebar").bounding_box()
    assert caption and (bar is None or not overlaps(
        {"x": caption["x"], "y": caption["y"], "w": caption["width"], "h": caption["height"]},
        {"x": bar["x"], "y": bar["y"], "w": bar["width"], "h": bar["height"]}))


def test_walkthrough_plays_the_modules_and_turns(page):
    """The walkthrough fills the tab; its play button steps through the modules with a
    caption each; the slider jumps to a step; the turntable turns the camera."""
    open_tab(page, "Walkthrough")
    page.wait_for_selector("#walkthrough iframe", timeout=30_000)
    m = page.evaluate(MEASURE)
    assert check_layout(m, "walkthrough") == []
    frame = page.frame_locator("#walkthrough iframe")
    inner = page.locator("#walkthrough iframe").element_handle().content_frame()
    inner.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot');"
                            " return gd && gd._transitionData"
                            " && gd._transitionData._frames.length > 5; }", timeout=60_000)
    caption = frame.locator(".annotation-text").first
    assert caption.text_content().startswith("1 Input")
    frame.get_by_text("▶ modules").click()
    frame.locator(".annotation-text", has_text="Farthest point sampling").wait_for(
        timeout=30_000)
    label = frame.locator(".slider-label", has_text="groups").bounding_box()
    page.mouse.click(label["x"] + label["width"] / 2, label["y"] + label["height"] / 2)
    frame.locator(".annotation-text", has_text="Groups").wait_for(timeout=30_000)
    screenshot(page, "walkthrough")
    eye = "() => document.querySelector('.js-plotly-plot')._fullLayout.scene.camera.eye.x"
    before = inner.evaluate(eye)
    frame.get_by_text("⟳ turntable").click()
    page.wait_for_timeout(1500)
    assert abs(inner.evaluate(eye) - before) > 0.05, "the turntable did not turn"


#: Every tab button of the centre column: its label, box, whether it is shown, whether it sits
#: in Gradio's overflow ("⋯") menu, whether its label is cut (ellipsis) and whether the button
#: is what the page shows at its centre (nothing covers it); and the "⋯" button if shown.
TAB_BUTTONS = """() => {
  const shown = (el) => { for (let a = el; a && a !== document.body; a = a.parentElement) {
      const s = getComputedStyle(a);
      if (s.visibility === 'hidden' || s.display === 'none' || s.opacity === '0') return false; }
    const r = el.getBoundingClientRect(); return r.width > 1 && r.height > 1; };
  const col = document.querySelector('#tabs-column');
  const buttons = [...col.querySelectorAll('[role=tab], .overflow-dropdown button')].map(b => {
    const r = b.getBoundingClientRect();
    const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
    return {text: b.innerText.trim(), x: r.left, y: r.top, w: r.width, h: r.height,
            shown: shown(b), in_menu: !!b.closest('.overflow-menu, .overflow-dropdown'),
            cut: b.scrollWidth > b.clientWidth + 1, on_top: !!hit && b.contains(hit)}; });
  const more = [...col.querySelectorAll('.overflow-menu > button')].filter(shown).length;
  return {buttons, more, vw: innerWidth, vh: innerHeight};
}"""


def test_every_tab_button_is_shown_in_the_window(page):
    """Every tab of the centre column is a button in the tab bar, inside the window, its label
    whole and nothing over it; none sits in Gradio's "⋯" overflow menu (a speaker could not
    see it there) and the "⋯" button is not shown."""
    from ui.tabs import TABS

    m = page.evaluate(TAB_BUTTONS)
    screen = {"x": 0, "y": 0, "w": m["vw"], "h": m["vh"]}
    shown = [b for b in m["buttons"] if b["shown"] and not b["in_menu"]]
    assert [b["text"] for b in shown] == [tab.TITLE for tab in TABS], m["buttons"]
    assert not [b["text"] for b in m["buttons"] if b["in_menu"]], "tabs in the overflow menu"
    assert m["more"] == 0, 'the tab bar shows its "⋯" overflow button'
    for b in shown:
        assert inside(b, screen), f"tab {b['text']!r} is not inside the window: {b}"
        assert b["h"] >= 20 and b["w"] >= 20, f"tab {b['text']!r} is too small: {b}"
        assert not b["cut"], f"tab {b['text']!r}'s label is cut"
        assert b["on_top"], f"something covers tab {b['text']!r}"
    for i, a in enumerate(shown):
        for b in shown[i + 1:]:
            assert not overlaps(a, b), f"tabs {a['text']!r} and {b['text']!r} overlap"
    # each button opens its tab (the last ones too)
    for title in (TABS[-1].TITLE, TABS[0].TITLE):
        page.get_by_role("tab", name=title).click()
        page.wait_for_timeout(300)
        assert page.get_by_role("tab", name=title).get_attribute("aria-selected") == "true"


def test_full_screen_toggle_enlarges_the_3d_view(page):
    open_tab(page, "3D")
    before = page.locator("#plot3d .js-plotly-plot").bounding_box()
    page.locator("#fullscreen").click()
    page.wait_for_function("document.fullscreenElement && "
                           "document.fullscreenElement.id === 'tabs-column'", timeout=10_000)
    page.wait_for_timeout(500)
    after = page.locator("#plot3d .js-plotly-plot").bounding_box()
    assert after["height"] > before["height"] and after["width"] > before["width"]
    page.locator("#fullscreen").click()
    page.wait_for_function("!document.fullscreenElement", timeout=10_000)
