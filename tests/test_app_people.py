"""The app on bad input: a photo without a person gets a clear error and no matches (API and
page); a wide photo's people are boxed and another one can be picked (page)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from test_app import CHROMIUM, CHROMIUM_ARGS, client, server  # noqa: F401 - fixtures
from test_pipeline import CAMPUS_VIDEO, small_assets

from ognet.assets import EXAMPLES_DIR


@pytest.fixture(scope="module")
def app_args(tmp_path_factory) -> list[str]:
    """The app on an untrained model and a random gallery: these tests check what it does
    with its input, not what it finds."""
    ckpt, gallery = small_assets(tmp_path_factory.mktemp("people_app"))
    return ["--checkpoint", str(ckpt), "--gallery", str(gallery), "--examples",
            str(EXAMPLES_DIR)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("photos")
    out = {"grey": folder / "grey.png"}
    Image.new("RGB", (640, 480), (128, 128, 128)).save(out["grey"])
    if CAMPUS_VIDEO.is_file():
        import cv2

        cap = cv2.VideoCapture(str(CAMPUS_VIDEO))
        ok, frame = cap.read()
        cap.release()
        assert ok
        out["campus"] = folder / "campus.jpg"
        Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).save(out["campus"])
    return out


@pytest.mark.slow
def test_search_without_a_person_is_an_app_error(client, photos):  # noqa: F811
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="No person found"):
        client.predict(handle_file(str(photos["grey"])), api_name="/search")
    lifted = client.predict(handle_file(str(photos["grey"])), api_name="/lift")
    assert lifted["person_found"] is False and lifted["message"].startswith("No person found")


@pytest.mark.slow
def test_search_a_wide_photo_searches_its_largest_person(client, photos):  # noqa: F811
    from gradio_client import handle_file

    if "campus" not in photos:
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    results = client.predict(handle_file(str(photos["campus"])), api_name="/search")
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]


@pytest.mark.browser
def test_page_says_no_person_and_picks_people(server, photos):  # noqa: F811
    if not Path(CHROMIUM).exists():
        pytest.skip("no Chromium at /usr/bin/chromium (scripts/setup.sh installs Debian's "
                    "chromium package where the distribution has one)")
    if "campus" not in photos:
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 720})
        page.goto(server)
        upload = page.locator("#query-photo input[type=file]")
        status = page.locator("#status")
        upload.set_input_files(str(photos["grey"]))
        expect(status).to_contain_text("No person found", timeout=120_000)
        expect(page.locator("#people")).to_be_hidden()

        page.goto(server)  # a fresh page for the second photo
        upload.set_input_files(str(photos["campus"]))
        expect(status).to_contain_text("lifted the largest", timeout=180_000)
        expect(page.locator("#people")).to_be_visible()
        page.locator("#person-pick input").click()
        page.get_by_role("option", name="#2").click()
        expect(status).to_contain_text("lifted #2", timeout=180_000)
        browser.close()
