"""The app read from the back of a room (issue 24): in a real headless Chromium at 1280x720
(and 1920x1080 for the first screen), light and dark, every defect a speaker met is measured
in the page (boxes, computed font sizes, SVG text sizes through their transforms, colours
against the background they sit on, DOM state of the controls; pixels only where a WebGL
scene has no DOM: which trace covers which):

- the first screen holds the photo, every example and a full-size 3D area with a hint;
- the header is one plain line with the paper, and a citation and licence line follows;
- no text under 11 px on any tab; figure text readable in both themes (contrast >= 4.5);
- no empty plot box: a plot shows a figure or a hint;
- Explain: the bar values readable, the query and match clouds apart;
- What if: one change highlighted at a time, rank labels apart;
- Layers: the KNN graph's edges visible, the chosen point's own edges not under its marker;
- Walkthrough and Layers name the same point counts, those of the model;
- Compare: "background" off applies to both clouds, titles whole;
- Export: a turntable GIF for slides.

One app server and one browser for the session (``tests/conftest.py``); a page per size and
theme, one query each.
"""

from __future__ import annotations

import io
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from conftest import open_tab, upload_photo, wait_for_matches
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.browser

MIN_PX = 11.0  # the smallest text a projector shows readably at 1280x720
MIN_CONTRAST = 4.5  # WCAG AA for text

# ------------------------------------------------------------------ measuring in the browser
#: Every visible text of the page: HTML text at its computed size; SVG text (the plots) at
#: its size on screen (font size x the scale of its transforms: Plotly shrinks a bar label
#: that does not fit by a ``scale()``); its fill or colour and the first opaque background
#: behind it (``behind`` when nothing in the document is opaque: a frame's page shows the
#: app's background); its box; the plot or block it is in; whether it is a colour bar's
#: label or a bar's value.
TEXTS = """([root, behind]) => {
  const rgb = (c) => { const m = c && c.match(/[\\d.]+/g); return m ? m.map(Number) : null; };
  const background = (el) => {
    for (let a = el; a; a = a.parentElement) {
      const c = rgb(getComputedStyle(a).backgroundColor);
      if (c && (c.length < 4 || c[3] > 0.5)) return c.slice(0, 3); }
    return behind || [255, 255, 255]; };
  const where = (el) => { const b = el.closest('[id]:not([id^="html-"])'); return b ? b.id : ''; };
  const box = (r) => ({x: r.left, y: r.top, w: r.width, h: r.height});
  const out = [];
  const scope = root ? document.querySelector(root) : document.body;
  if (!scope) return out;
  const walker = document.createTreeWalker(scope, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, el = node.parentElement;
    if (!node.textContent.trim() || !el || el.closest('script, style, title, .sr-only'))
      continue;
    if (!el.checkVisibility({checkOpacity: true, checkVisibilityCSS: true})) continue;
    const r = el.getBoundingClientRect();
    if (r.width < 1 || r.height < 1) continue;
    const style = getComputedStyle(el);
    let size = parseFloat(style.fontSize), colour = rgb(style.color);
    if (el instanceof SVGElement) {
      const m = el.getScreenCTM();
      size *= Math.sqrt(Math.abs(m.a * m.d - m.b * m.c));
      colour = rgb(style.fill);
    }
    out.push({text: node.textContent.trim().slice(0, 50), size, colour, bg: background(el),
              svg: el instanceof SVGElement, cls: el.getAttribute('class') || '',
              colour_bar: !!el.closest('.colorbar'), bar_value: !!el.closest('.bartext'),
              in: where(el), ...box(r)});
  }
  return out;
}"""

#: A plot block: whether it shows a drawn figure (traces with data), else the hint a
#: figure without data says (its annotations' text), the hint's smallest size on screen and
#: whether it lies whole inside the block; the block's box.
PLOT_STATE = """(id) => {
  const block = document.getElementById(id);
  if (!block || !block.checkVisibility()) return null;
  const r = block.getBoundingClientRect();
  const gd = block.querySelector('.js-plotly-plot');
  const drawn = !!gd && !!gd._fullData && gd._fullData.some(
      t => t.visible !== false && ((t.x && t.x.length) || (t.y && t.y.length)));
  const notes = gd ? [...gd.querySelectorAll('.annotation-text')] : [];
  const hint = notes.map(t => t.textContent).join(' ');
  const size = (t) => { const m = t.getScreenCTM();
    return parseFloat(getComputedStyle(t).fontSize) * Math.sqrt(Math.abs(m.a * m.d - m.b * m.c)); };
  const hint_px = Math.min(...notes.map(size));
  const hint_inside = notes.every(t => { const b = t.getBoundingClientRect();
    return b.left >= r.left - 1 && b.right <= r.right + 1 && b.top >= r.top - 1
      && b.bottom <= r.bottom + 1; });
  return {drawn, hint, hint_px: notes.length ? hint_px : 0, hint_inside,
          x: r.left, y: r.top, w: r.width, h: r.height};
}"""


def luminance(c) -> float:
    def channel(v):
        v = v / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    return 0.2126 * channel(c[0]) + 0.7152 * channel(c[1]) + 0.0722 * channel(c[2])


def contrast(a, b) -> float:
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def overlap(a, b, px: float = 1.0) -> bool:
    return (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > px
            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > px)


def inside(a, b, slack: float = 1.0) -> bool:
    return (a["x"] >= b["x"] - slack and a["y"] >= b["y"] - slack
            and a["x"] + a["w"] <= b["x"] + b["w"] + slack
            and a["y"] + a["h"] <= b["y"] + b["h"] + slack)


def texts(page, root: str | None = None, behind: list | None = None) -> list[dict]:
    return page.evaluate(TEXTS, [root, behind])


#: The opaque background behind an element of the app (the colour a frame's page shows).
BACKGROUND = """(selector) => {
  for (let a = document.querySelector(selector); a; a = a.parentElement) {
    const m = getComputedStyle(a).backgroundColor.match(/[\\d.]+/g);
    if (m && (m.length < 4 || Number(m[3]) > 0.5)) return m.slice(0, 3).map(Number); }
  return [255, 255, 255]; }"""


def small(found: list[dict]) -> list[str]:
    return [f"{t['text']!r} {t['size']:.1f}px in #{t['in']}" for t in found
            if t["size"] < MIN_PX - 0.05]


def box_of(page, selector: str) -> dict:
    b = page.locator(selector).first.bounding_box()
    assert b is not None, f"{selector} is not shown"
    return {"x": b["x"], "y": b["y"], "w": b["width"], "h": b["height"]}


def plot_box(page, elem_id: str) -> dict:
    return box_of(page, f"#{elem_id} .js-plotly-plot")


def wait_for_plot(page, elem_id: str, timeout: float = 120_000) -> None:
    page.wait_for_function(
        "(id) => { const gd = document.querySelector('#' + id + ' .js-plotly-plot');"
        " return gd && gd._fullData && gd._fullData.length > 0; }", arg=elem_id,
        timeout=timeout)
    page.wait_for_timeout(250)


def traces_shown(page, elem_id: str, names: list[str] | None) -> np.ndarray:
    """The plot's pixels with only the traces named ``names`` shown (None: all of them), no
    colour bar and no legend, as an (H, W, 3) int array; the plot is restored after."""
    page.evaluate("""async ([id, names]) => {
      const gd = document.querySelector('#' + id + ' .js-plotly-plot');
      const all = gd.data.map((_, i) => i);
      gd._kept = {legend: gd.layout.showlegend,
                  scales: gd.data.map(t => (t.marker || {}).showscale)};
      const visible = gd.data.map(t => names === null || names.includes(t.name));
      await Plotly.restyle(gd, {visible, 'marker.showscale': false}, all);
      await Plotly.relayout(gd, {showlegend: false});
      await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))); }""",
                  [elem_id, names])
    page.wait_for_timeout(150)
    page.mouse.move(1, 1)  # no hover label, no mode bar in the picture
    page.wait_for_timeout(100)
    shot = page.locator(f"#{elem_id} .js-plotly-plot").screenshot()
    page.evaluate("""async (id) => {
      const gd = document.querySelector('#' + id + ' .js-plotly-plot');
      await Plotly.restyle(gd, {visible: true, 'marker.showscale': gd._kept.scales},
                           gd.data.map((_, i) => i));
      await Plotly.relayout(gd, {showlegend: gd._kept.legend}); }""", elem_id)
    return np.asarray(Image.open(io.BytesIO(shot)).convert("RGB"), dtype=np.int16)


def drawn_mask(pixels: np.ndarray, background: np.ndarray, tol: int = 24) -> np.ndarray:
    """(H, W) bool: where ``pixels`` differ from the empty scene ``background``."""
    return np.abs(pixels - background).max(axis=2) > tol


# ------------------------------------------------------------------ pages
@pytest.fixture(scope="module")
def pages(query_page):
    """``pages(width, height, theme)``: the session's page of the app at that size and theme
    with the first example's query shown (``conftest.query_page``; tests leave the view
    controls as they found them)."""
    return query_page


# ------------------------------------------------------------------ the first screen
@pytest.mark.parametrize("size", [(1280, 720), (1920, 1080)], ids=["1280x720", "1920x1080"])
def test_first_screen_holds_the_photo_every_example_and_a_full_3d_area(new_page, size):
    """Before a query: the 3D area is the largest thing on the page (not a 235 px box) and
    says what to do; the photo box and every example thumbnail lie inside the window."""
    width, height = size
    page = new_page(width, height)
    page.wait_for_selector("[id^=examples] img", timeout=60_000)
    try:  # the plot's own code loads after the page; an empty plot never draws
        page.wait_for_selector("#plot3d .js-plotly-plot .main-svg", timeout=15_000)
    except PlaywrightTimeout:
        pass
    page.wait_for_timeout(500)
    window = {"x": 0, "y": 0, "w": width, "h": height}
    area = page.evaluate(PLOT_STATE, "plot3d")
    assert area is not None and not area["drawn"]
    assert area["h"] >= 0.55 * height, f"the 3D area before a query is {area['h']:.0f} px tall"
    assert inside(area, window), area
    assert "photo" in area["hint"] and area["hint_px"] >= MIN_PX and area["hint_inside"], area
    assert inside(box_of(page, "#query-photo"), window)
    thumbs = page.evaluate("""() => [...document.querySelectorAll('[id^=examples] img')]
        .filter(i => i.checkVisibility()).map(i => { const r = i.getBoundingClientRect();
          return {x: r.left, y: r.top, w: r.width, h: r.height}; })""")
    assert len(thumbs) >= 6
    cut = [t for t in thumbs if not inside(t, window)]
    assert not cut, f"{len(cut)} of {len(thumbs)} examples are outside the window: {cut[:2]}"
    assert all(t["h"] >= 48 for t in thumbs), "example thumbnails too small to tell apart"


PAPER_TITLE = "Parameter-Efficient Person Re-identification in the 3D Space"
PAPER_URL = "https://arxiv.org/abs/2006.04569"


def test_header_is_one_plain_line_with_the_paper_and_a_credits_line(new_page):
    """The header is one line at 1280 px naming the paper with its link (no model jargon:
    that is in the credits line), and a citation and licence line follows the page."""
    page = new_page(1280, 720)
    header = page.locator("#header")
    assert PAPER_TITLE in header.inner_text()
    assert header.locator(f"a[href='{PAPER_URL}']").count() == 1
    lines = page.evaluate("""() => { const p = document.querySelector('#header p');
        const r = document.createRange(); r.selectNodeContents(p);
        return new Set([...r.getClientRects()].map(c => Math.round(c.top))).size; }""")
    assert lines == 1, f"the header takes {lines} lines at 1280 px"
    assert "parameters" not in header.inner_text()  # the model's details are in the credits
    credits = page.locator("#credits").inner_text()
    for needed in ("Zheng", "TNNLS", "MIT", "anny", "Apache-2.0", "NAVER"):
        assert needed in credits, needed


# ------------------------------------------------------------------ empty plots
#: The plots that wait for a choice after a query, by tab.
WAITING_PLOTS = {"Explain": ["explain-clouds", "explain-parts"],
                 "What if": ["whatif-moves", "whatif-yaw-curve"],
                 "Compare": ["compare-query", "compare-match"]}


def test_no_empty_plot_box_after_a_query(new_page, examples):
    """After a query, a tab whose plots wait for a choice shows, in each, a hint of what to
    do (at least 11 px, whole inside the plot), never a bare box."""
    page = new_page(1280, 720)
    upload_photo(page, examples[1])
    wait_for_matches(page)
    empty = []
    for tab, plots in WAITING_PLOTS.items():
        open_tab(page, tab)
        for elem_id in plots:
            state = page.evaluate(PLOT_STATE, elem_id)
            assert state is not None, f"#{elem_id} is not shown"
            hint = state["hint"] and state["hint_px"] >= MIN_PX and state["hint_inside"]
            if not (state["drawn"] or hint) or state["h"] < 150:
                empty.append(f"#{elem_id}: {state}")
    assert empty == [], empty


# ------------------------------------------------------------------ Explain
def explain_first_match(page) -> None:
    open_tab(page, "Explain")
    page.locator("#explain-rank").get_by_text("#1").click()
    page.locator("#explain-button").click()
    page.wait_for_function(
        "document.querySelector('#explain-note').innerText.includes('search:')",
        timeout=120_000)
    wait_for_plot(page, "explain-parts")
    wait_for_plot(page, "explain-clouds")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_explain_colour_bar_labels_stand_out(pages, theme):
    """The colour bar's labels (Plotly's default: dark blue, lost on the dark theme's grey)
    have a contrast of at least 4.5 with the background they sit on, in both themes."""
    page = pages(theme=theme)
    explain_first_match(page)
    labels = [t for t in texts(page, "#explain-clouds") if t["colour_bar"]]
    assert len(labels) >= 3, labels
    faint = [f"{t['text']!r} {t['colour']} on {t['bg']}: {contrast(t['colour'], t['bg']):.1f}"
             for t in labels if contrast(t["colour"], t["bg"]) < MIN_CONTRAST]
    assert faint == [], faint


def test_explain_bar_values_and_labels_are_readable(pages):
    """The parts' values on their bars (shrunk by Plotly to 5 px to fit a narrow bar) and
    every other label of the two Explain plots are at least 11 px and inside their plot."""
    page = pages()
    explain_first_match(page)
    values = [t for t in texts(page, "#explain-parts") if t["bar_value"]]
    assert len(values) >= 8, values  # head ... bias, similarity
    assert small(values) == [], small(values)
    for elem_id in ("explain-parts", "explain-clouds"):
        found = [t for t in texts(page, f"#{elem_id}") if t["svg"]]
        assert small(found) == [], small(found)
        plot = plot_box(page, elem_id)
        out = [t["text"] for t in found if not inside(t, plot)]
        assert out == [], f"#{elem_id}: labels outside the plot: {out}"


def test_explain_query_and_match_clouds_stand_apart(pages):
    """The query's and the match's clouds, each drawn alone, cover columns of the plot that
    do not meet (a clear gap between), and neither runs out of the plot."""
    page = pages()
    explain_first_match(page)
    names = page.evaluate("""() => document.querySelector('#explain-clouds .js-plotly-plot')
                             .data.map(t => t.name)""")
    query = next(n for n in names if n and n.startswith("query"))
    match = next(n for n in names if n and n.startswith("match"))
    empty = traces_shown(page, "explain-clouds", [])
    columns = {}
    for name in (query, match):
        mask = drawn_mask(traces_shown(page, "explain-clouds", [name]), empty)
        cols = np.flatnonzero(mask.any(axis=0))
        rows = np.flatnonzero(mask.any(axis=1))
        assert len(cols) > 20 and len(rows) > 100, f"{name} is hardly drawn"
        assert cols[0] > 0 and cols[-1] < mask.shape[1] - 1, f"{name} runs out of the plot"
        assert rows[0] > 0 and rows[-1] < mask.shape[0] - 1, f"{name} runs out of the plot"
        columns[name] = (cols[0], cols[-1])
    gap = columns[match][0] - columns[query][1]
    assert gap >= 8, f"the clouds meet: query columns {columns[query]}, match {columns[match]}"


# ------------------------------------------------------------------ What if
def what_if(page, control: str, choice: str, note: str) -> None:
    open_tab(page, "What if")
    page.locator(f"#{control}").get_by_text(choice, exact=True).click()
    page.wait_for_function("(s) => document.querySelector('#whatif-note').innerText"
                           ".includes(s)", arg=note, timeout=180_000)
    wait_for_plot(page, "whatif-moves")


def test_what_if_rank_labels_stay_apart(pages):
    """Greyscale throws the first example's top-5 far down (ranks 24, 28, 63, ...): the rank
    plot's labels (a log axis stacked 24 on 28) do not overlap, and are at least 11 px."""
    page = pages()
    what_if(page, "whatif-change", "greyscale", "greyscale")
    found = [t for t in texts(page, "#whatif-moves") if t["svg"]]
    labels = [t for t in found if "pid" in t["text"]]
    assert len(labels) >= 5, labels
    clash = [(a["text"], b["text"]) for i, a in enumerate(found) for b in found[i + 1:]
             if overlap(a, b)]
    assert clash == [], f"rank plot labels overlap: {clash}"
    assert small(found) == [], small(found)


def test_what_if_highlights_only_the_change_shown(pages):
    """A change, then a yaw angle: the answer is the yaw's alone, and so is the highlight
    (the change chosen before no longer shows as chosen)."""
    page = pages()
    what_if(page, "whatif-change", "no colour", "no_colour")
    what_if(page, "whatif-yaw", "30", "yaw = 30")
    checked = page.evaluate("""() => [...document.querySelectorAll(
        '#whatif-change input:checked, #whatif-yaw input:checked')].map(i => i.value)""")
    assert checked == ["30"], f"highlighted choices: {checked}"


# ------------------------------------------------------------------ Layers
def show_module(page, module: int, view: str) -> None:
    number = page.locator("#module input[type=number]")
    number.fill(str(module))
    number.press("Enter")
    page.wait_for_function(
        "(n) => { const t = document.querySelector('#layerplot .annotation-text');"
        " return t && t.textContent.startsWith('module ' + n + ':'); }", arg=module,
        timeout=60_000)
    page.locator("#layer-controls").get_by_label("show").click()
    page.get_by_role("option", name=view, exact=True).click()
    page.wait_for_function(
        "(v) => document.querySelector('#layerplot .js-plotly-plot')"
        ".data.some(t => (t.name || '').startsWith(v))", arg="edges of point",
        timeout=60_000)
    page.wait_for_timeout(800)


def test_layers_knn_edges_show_and_the_chosen_points_edges_are_not_under_its_marker(pages):
    """Module 2's KNN graph: the whole graph's edges are not faint (width, opacity), and of
    the pixels the chosen point's own edges cover when drawn alone, most lie outside its
    marker drawn alone, and most are still red with every trace drawn. (Module 2, on the
    paper-width model's 768 FPS points: module 1's graph joins the 4096 input points to
    neighbours 1-2 cm away, 2-5 pixels at this zoom, shorter than any visible marker.)"""
    page = pages()
    open_tab(page, "Layers")
    show_module(page, 2, "knn graph")
    names = page.evaluate("""() => document.querySelector('#layerplot .js-plotly-plot')
                             .data.map(t => t.name)""")
    edges = next(n for n in names if n.startswith("edges of point"))
    empty = traces_shown(page, "layerplot", [])
    alone = traces_shown(page, "layerplot", [edges])
    edge_px = drawn_mask(alone, empty)
    marker_px = drawn_mask(traces_shown(page, "layerplot", ["chosen point"]), empty)
    everything = traces_shown(page, "layerplot", None)
    assert edge_px.sum() > 30, "the chosen point's edges are hardly drawn"
    outside = (edge_px & ~marker_px).sum() / edge_px.sum()
    assert outside >= 0.6, f"only {outside:.0%} of its edges' pixels lie outside its marker"
    # still red (the edges' colour, #d62728) where they were drawn alone: not covered, or
    # seen through the see-through points
    red = (everything[..., 0] > everything[..., 1] + 60) & (everything[..., 0]
                                                            > everything[..., 2] + 60)
    shown = (red & edge_px).sum() / edge_px.sum()
    assert shown >= 0.5, f"only {shown:.0%} of its edges show among the other traces"
    graph = page.evaluate("""() => document.querySelector('#layerplot .js-plotly-plot')
        ._fullData.filter(t => (t.name || '').startsWith('edges ('))
        .map(t => ({width: t.line.width, colour: t.line.color}))""")
    assert len(graph) == 1
    alpha = float(graph[0]["colour"].rsplit(",", 1)[1].rstrip(")")) \
        if graph[0]["colour"].startswith("rgba") else 1.0
    assert graph[0]["width"] >= 2 and alpha >= 0.6, f"faint graph edges: {graph[0]}"


# ------------------------------------------------------------------ Walkthrough and Layers
def test_walkthrough_and_layers_name_the_models_point_counts(pages, app_args, repo_root):
    """The Walkthrough's last step and the Layers title of the last module say the same thing,
    and it is the model's: its last stage takes the previous stage's points and keeps its
    own (the checkpoint's stage_points)."""
    checkpoint = (Path(app_args[app_args.index("--checkpoint") + 1]) if "--checkpoint"
                  in app_args else repo_root / "assets" / "model" / "ognet_small_synth.json")
    config = json.loads(checkpoint.with_suffix(".json").read_text())["model"]
    stages = config["stage_points"]
    last = len(stages)
    said = f"module {last}: {stages[-2]} points in, {stages[-1]} out"
    page = pages()
    open_tab(page, "Layers")
    show_module(page, last, "non-local graph")
    title = page.locator("#layerplot .annotation-text").first.text_content()
    assert title.startswith(said), (title, said)
    open_tab(page, "Walkthrough")
    page.wait_for_selector("#walkthrough iframe", timeout=60_000)
    inner = page.locator("#walkthrough iframe").element_handle().content_frame()
    inner.wait_for_function("() => { const gd = document.querySelector('.js-plotly-plot');"
                            " return gd && gd._transitionData"
                            " && gd._transitionData._frames.length > 5; }", timeout=60_000)
    caption = inner.evaluate("""() => document.querySelector('.js-plotly-plot')
        ._transitionData._frames.find(f => f.name === 'nonlocal').layout.annotations[0].text""")
    assert said in caption, (caption, said)


# ------------------------------------------------------------------ Compare
def test_compare_applies_background_off_and_shows_whole_titles(new_page, examples):
    """With "background" off in the 3D tab, a clicked match's cloud and the query's are drawn
    without their background points; each title lies inside its plot."""
    page = new_page(1280, 720)
    upload_photo(page, examples[0])
    wait_for_matches(page)
    wait_for_plot(page, "plot3d")
    full = page.evaluate("() => document.querySelector('#plot3d .js-plotly-plot')"
                         "._fullData[0].x.length")
    page.locator("#view-controls").get_by_label("background").uncheck()
    page.wait_for_function(
        "(n) => document.querySelector('#plot3d .js-plotly-plot')._fullData[0].x.length < n",
        arg=full, timeout=60_000)
    page.locator("#matches .thumbnail-item").nth(1).click()
    wait_for_plot(page, "compare-match")
    wait_for_plot(page, "compare-query")
    counts = page.evaluate("""() => ['compare-query', 'compare-match'].map(id =>
        document.querySelector('#' + id + ' .js-plotly-plot')._fullData[0].x.length)""")
    assert counts[0] < full, f"the query keeps its background: {counts[0]} of {full} points"
    assert counts[1] < full, f"the match keeps its background: {counts[1]} of {full} points"
    for elem_id in ("compare-query", "compare-match"):
        plot = plot_box(page, elem_id)
        for t in texts(page, f"#{elem_id}"):
            if "annotation" in t["cls"] or t["y"] < plot["y"] + 50:
                assert inside(t, plot), f"#{elem_id}: {t['text']!r} is cut: {t} / {plot}"


# ------------------------------------------------------------------ every tab's text
TABS_WITH_CONTENT = ["3D", "Walkthrough", "Lifting", "Layers", "Compare", "Explain", "What if",
                     "Export"]


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_no_text_under_11px_on_any_tab(pages, theme):
    """On every tab (after the query, with Explain and What if used), every visible text of
    the page, HTML or SVG, the walkthrough's framed page included, is at least 11 px on
    screen, and the figures' own text has a contrast of at least 4.5 with what is behind
    it."""
    page = pages(theme=theme)
    explain_first_match(page)
    open_tab(page, "What if")
    if "greyscale" not in page.locator("#whatif-note").inner_text():
        page.locator("#whatif-change").get_by_text("greyscale").click()
        page.wait_for_function("document.querySelector('#whatif-note').innerText"
                               ".includes('greyscale')", timeout=120_000)
    problems = {}
    for tab in TABS_WITH_CONTENT:
        open_tab(page, tab)
        page.wait_for_timeout(250)
        found = texts(page)
        if tab == "Walkthrough":  # its own page in a frame: the captions, the step labels
            frame = page.locator("#walkthrough iframe").element_handle().content_frame()
            frame.wait_for_selector(".annotation-text", timeout=60_000)
            found += texts(frame, None, page.evaluate(BACKGROUND, "#walkthrough iframe"))
        bad = small(found)
        bad += [f"{t['text']!r} contrast {contrast(t['colour'], t['bg']):.1f} in #{t['in']}"
                for t in found if t["svg"] and t["colour"]
                and contrast(t["colour"], t["bg"]) < MIN_CONTRAST]
        if bad:
            problems[tab] = bad
    assert problems == {}, problems


# ------------------------------------------------------------------ Export
def test_export_tab_makes_a_turntable_gif(pages, server):
    """The Export tab's turntable button gives a looping GIF of the query's cloud, its frames
    differing (the cloud turns), offered as a file and previewed."""
    from viz.turntable import FRAMES

    page = pages()
    open_tab(page, "Export")
    page.locator("#turntable-button").click()
    link = page.locator("#turntable-file a[href$='.gif']").first
    link.wait_for(timeout=120_000)
    href = link.get_attribute("href")
    url = href if href.startswith("http") else server + href
    with urllib.request.urlopen(url, timeout=60) as r:
        data = r.read()
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "GIF" and im.is_animated and im.n_frames == FRAMES
        first = np.asarray(im.convert("RGB"), dtype=np.int16)
        im.seek(FRAMES // 4)
        quarter = np.asarray(im.convert("RGB"), dtype=np.int16)
    assert np.abs(first - quarter).mean() > 2.0, "the turntable does not turn"
    page.wait_for_selector("#turntable-view img", timeout=30_000)
    assert box_of(page, "#turntable-view img")["h"] >= 100
