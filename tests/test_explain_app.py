"""The Explain and What-if tabs and the ``/explain`` and ``/whatif`` endpoints of the real app
(a ``python app.py`` subprocess, ``gradio_client``, and a real headless Chromium)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import open_tab, upload_photo, wait_for_matches

PARTS = {"head", "torso", "arms", "legs", "feet", "background"}


def test_explain_endpoint_adds_up_to_the_search(client, examples):
    from gradio_client import handle_file

    path = handle_file(str(examples[1]))
    matches = client.predict(path, api_name="/search")
    for rank, with_match in ((1, True), (3, False)):
        ex = client.predict(path, rank, with_match, api_name="/explain")
        assert set(ex["parts"]) == PARTS
        assert ex["rank"] == rank and ex["pid"] == matches[rank - 1]["pid"]
        total = sum(ex["parts"].values()) + ex["bias"]
        assert total == pytest.approx(matches[rank - 1]["similarity"], abs=1e-3)
        assert ex["similarity"] == pytest.approx(total, abs=1e-5)


def test_explain_endpoint_gives_the_match_side_and_the_pairs(client, examples):
    """By default (as the Explain tab) /explain splits the match's own cloud too: its parts +
    bias add up to its recomputed similarity, and the strongest point pairs come with their
    positions; asked without the match side, neither comes and the query side is the same."""
    from gradio_client import handle_file

    path = handle_file(str(examples[1]))
    ex = client.predict(path, 1, api_name="/explain")  # the default: with the match side
    assert "match" in ex, ex.get("match_note")
    match = ex["match"]
    # the gallery keeps photos or thumbnails (no prepared clouds): re-lifted, every point
    # of the match has its part
    assert set(match["parts"]) == PARTS
    assert sum(match["parts"].values()) + match["bias"] == pytest.approx(
        match["similarity"], abs=1e-4)
    assert -1.0001 <= match["similarity"] <= 1.0001 and match["points"] == ex["query_points"]
    assert sum(ex["parts"].values()) + ex["bias"] == pytest.approx(ex["similarity"], abs=1e-5)
    pairs = ex["pairs"]
    assert len(pairs) == 8
    values = [p["value"] for p in pairs]
    assert values == sorted(values, reverse=True) and values[0] > 0
    for p in pairs:
        assert p["query_point"] >= 0 and p["match_point"] >= 0
        for xyz in (p["query_xyz"], p["match_xyz"]):  # metres, person-centred
            assert len(xyz) == 3 and max(abs(v) for v in xyz) < 3, p
    without = client.predict(path, 1, False, api_name="/explain")
    assert without["pairs"] == [] and "match" not in without
    assert without["parts"] == pytest.approx(ex["parts"], abs=1e-6)
    assert without["bias"] == pytest.approx(ex["bias"], abs=1e-6)


def test_whatif_endpoint_and_its_errors(client, examples):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = handle_file(str(examples[1]))
    matches = client.predict(path, api_name="/search")
    w = client.predict(path, "yaw", 30, api_name="/whatif")
    assert w["variation"] == "yaw" and w["value"] == 30
    assert [mv["old_rank"] for mv in w["moves"]] == [1, 2, 3, 4, 5]
    assert [mv["pid"] for mv in w["moves"]] == [m["pid"] for m in matches]
    assert len(w["matches"]) == 5 and -1.0001 <= w["cosine_to_original"] <= 1.0001
    w = client.predict(path, "greyscale", None, api_name="/whatif")
    assert w["value"] is None and len(w["matches"]) == 5
    with pytest.raises(AppError, match="unknown variation"):
        client.predict(path, "sepia", None, api_name="/whatif")
    with pytest.raises(AppError, match="k must be an integer"):
        client.predict(path, "k", 1000, api_name="/whatif")
    # the app goes on serving
    assert client.predict(path, api_name="/search")[0]["pid"] == matches[0]["pid"]


def embed_here(app_pipe, cloud: np.ndarray, num_points: int) -> np.ndarray:
    """The unit embedding of ``cloud`` seen as the model sees a query (``num_points`` rows
    ``floor(i * N / M)``, one per stride), computed here with the model alone."""
    import torch

    rows = (np.arange(num_points) * len(cloud)) // num_points
    x = torch.from_numpy(np.ascontiguousarray(cloud[rows], dtype=np.float32))[None]
    with torch.no_grad():
        return app_pipe.model.extract(x)[0].numpy()


@pytest.mark.parametrize("variation, value", [("mirror", None), ("flat_depth", None),
                                              ("body_only", None), ("density", 0.5)])
def test_whatif_variations_against_a_computation_here(client, examples, app_pipe, variation,
                                                      value):
    """/whatif's mirror (x -> -x), flat depth (z = 0), body only (the lifted foreground) and
    density (half the points): the cosine to the original embedding, the point count and
    the new top-5 equal those of the changed cloud embedded and searched here."""
    from gradio_client import handle_file

    lift = app_pipe.lifter(examples[1])
    cloud, n = lift.points.copy(), app_pipe.model.config.num_points
    original = embed_here(app_pipe, cloud, n)
    if variation == "mirror":
        cloud[:, 0] = -cloud[:, 0]
    elif variation == "flat_depth":
        cloud[:, 2] = 0.0
    elif variation == "body_only":
        cloud = cloud[lift.foreground.reshape(-1)]
    else:
        n = round(value * n)
    changed = embed_here(app_pipe, cloud, n)
    hits = app_pipe.gallery.search(changed, k=5)
    w = client.predict(handle_file(str(examples[1])), variation, value, api_name="/whatif")
    assert w["variation"] == variation and w["num_points"] == n
    assert w["cosine_to_original"] == pytest.approx(float(changed @ original), abs=1e-4)
    assert w["cosine_to_original"] < 0.9999  # the change changed something
    assert [m["pid"] for m in w["matches"]] == hits.pids.tolist()
    np.testing.assert_allclose([m["similarity"] for m in w["matches"]], hits.similarities,
                               atol=1e-3)


@pytest.fixture(scope="module")
def page(browser, server, examples):
    """One page at 1280x720 with the second example searched (shared by this file's tests)."""
    page = browser.new_page(viewport={"width": 1280, "height": 720})
    page.goto(server)
    page.wait_for_selector("#query-photo input[type=file]", state="attached", timeout=60_000)
    upload_photo(page, examples[1])
    wait_for_matches(page)
    yield page
    page.close()


def overlaps(a: dict, b: dict, px: float = 2.0) -> bool:
    """Do two boxes ({x, y, w, h}, px) intersect by more than ``px`` both ways?"""
    return (min(a["x"] + a["w"], b["x"] + b["w"]) - max(a["x"], b["x"]) > px
            and min(a["y"] + a["h"], b["y"] + b["h"]) - max(a["y"], b["y"]) > px)


def box(page, selector: str) -> dict:
    b = page.locator(selector).bounding_box()
    assert b is not None, f"{selector} is not shown"
    return {"x": b["x"], "y": b["y"], "w": b["width"], "h": b["height"]}


@pytest.mark.browser
def test_browser_explanation_shows_both_clouds_and_the_parts(page):
    open_tab(page, "Explain")
    page.locator("#explain-button").click()
    page.wait_for_selector("#explain-parts .js-plotly-plot .main-svg", timeout=90_000)
    page.wait_for_selector("#explain-clouds .js-plotly-plot .main-svg", timeout=30_000)
    page.wait_for_timeout(500)
    data = page.evaluate("""() => {
      const gd = (id) => document.querySelector('#' + id + ' .js-plotly-plot');
      const clouds = gd('explain-clouds'), parts = gd('explain-parts');
      // _fullData: the traces as drawn (x decoded from Plotly's typed-array encoding)
      return {clouds: clouds._fullData.map(t => ({type: t.type, name: t.name,
                                                 n: t.x ? t.x.length : 0})),
              bars: parts.data[0].x, measure: parts.data[0].measure,
              rects: parts.querySelectorAll('.waterfall .point path, .trace.bars path,'
                                            + ' g.point path').length}; }""")
    scatter = [t for t in data["clouds"] if t["type"] == "scatter3d" and t["n"] > 100]
    assert [t["name"].split(" ")[0] for t in scatter] == ["query", "match"], data["clouds"]
    assert any(t["name"].startswith("strongest pairs") for t in data["clouds"])
    assert data["bars"][:6] == ["head", "torso", "arms", "legs", "feet", "background"]
    assert data["bars"][-2:] == ["bias", "similarity"] and data["measure"][-1] == "total"
    assert data["rects"] >= len(data["bars"])  # a drawn bar per part
    clouds, parts = box(page, "#explain-clouds .js-plotly-plot"), box(
        page, "#explain-parts .js-plotly-plot")
    width = page.viewport_size["width"]
    for b in (clouds, parts):
        assert b["w"] > 200 and b["h"] > 200, b
        assert b["x"] >= -1 and b["x"] + b["w"] <= width + 1, b
    assert not overlaps(clouds, parts)
    # the 3D canvas is drawn inside the clouds' plot
    canvas = box(page, "#explain-clouds canvas")
    assert canvas["w"] > 0.5 * clouds["w"] and canvas["h"] > 0.5 * clouds["h"], canvas
    assert overlaps(canvas, clouds)
    note = page.locator("#explain-note").inner_text()
    assert "Background" in note and "search" in note


@pytest.mark.browser
def test_browser_what_if_moves_the_top5(page):
    open_tab(page, "What if")
    page.locator("#whatif-change").get_by_text("greyscale").click()
    page.wait_for_selector("#whatif-moves .js-plotly-plot .main-svg", timeout=90_000)
    page.wait_for_function(
        "document.querySelector('#whatif-note').innerText.includes('cosine to the')",
        timeout=30_000)
    lines = page.evaluate("""() => document.querySelector('#whatif-moves .js-plotly-plot')
                             .data.filter(t => t.mode === 'lines+markers+text').length""")
    assert lines == 5
    moves = box(page, "#whatif-moves .js-plotly-plot")
    assert moves["w"] > 200 and moves["h"] > 150
    assert "#1" in page.locator("#whatif-note").inner_text()
