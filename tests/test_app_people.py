"""The app on bad input: a photo without a person gets a clear error and no matches (API and
page); a wide photo's people are boxed and another one can be picked (page)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import upload_photo
from PIL import Image
from test_pipeline import CAMPUS_VIDEO


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


def test_search_without_a_person_is_an_app_error(client, photos):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="No person found"):
        client.predict(handle_file(str(photos["grey"])), api_name="/search")
    lifted = client.predict(handle_file(str(photos["grey"])), api_name="/lift")
    assert lifted["person_found"] is False and lifted["message"].startswith("No person found")


def test_search_a_wide_photo_searches_its_largest_person(client, photos):
    from gradio_client import handle_file

    if "campus" not in photos:
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    results = client.predict(handle_file(str(photos["campus"])), api_name="/search")
    assert [r["rank"] for r in results] == [1, 2, 3, 4, 5]


@pytest.mark.browser
def test_page_says_no_person_and_picks_people(new_page, photos):
    if "campus" not in photos:
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    from playwright.sync_api import expect

    page = new_page(1280, 720)
    status = page.locator("#status")
    upload_photo(page, photos["grey"])
    expect(status).to_contain_text("No person found", timeout=120_000)
    expect(page.locator("#people")).to_be_hidden()

    page = new_page(1280, 720)  # a fresh page for the second photo
    status = page.locator("#status")
    upload_photo(page, photos["campus"])
    expect(status).to_contain_text("lifted the largest", timeout=180_000)
    expect(page.locator("#people")).to_be_visible()
    page.locator("#person-pick input").click()
    page.get_by_role("option", name="#2").click()
    expect(status).to_contain_text("lifted #2", timeout=180_000)
