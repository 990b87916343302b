"""Person presence and several people: photos without a person are refused, real people are
not, and a wide campus frame gives its people (ognet.lift.people)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ognet.assets import EXAMPLES_DIR
from ognet.lift import NoPersonError, crop_person, get_lifter, is_wide
from ognet.lift.people import PersonBox, looks_like_a_person

CAMPUS_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
#: The three people of the campus video's first frame, boxed by hand (x0, y0, x1, y1).
CAMPUS_FRAME0_PEOPLE = [(250, 215, 290, 310), (497, 150, 533, 238), (637, 237, 690, 325)]


def grey(size=(64, 128)):
    return Image.new("RGB", size, (128, 128, 128))


def sky(size=(640, 480)):
    """A blue sky gradient, lighter towards the horizon."""
    w, h = size
    t = np.linspace(0, 1, h)[:, None, None]
    top, bottom = np.array([60, 120, 220]), np.array([190, 215, 245])
    rows = (top + t * (bottom - top)).astype(np.uint8)
    return Image.fromarray(np.repeat(rows, w, axis=1))


@pytest.fixture(scope="module")
def lifter():
    return get_lifter()


@pytest.fixture(scope="module")
def campus_frame() -> np.ndarray:
    """The first frame of OpenCV's sample campus video (768x576, RGB)."""
    if not CAMPUS_VIDEO.is_file():
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    import cv2

    cap = cv2.VideoCapture(str(CAMPUS_VIDEO))
    ok, frame = cap.read()
    cap.release()
    assert ok, "OpenCV could not read the campus video"
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("image", [grey(), grey((640, 480)), sky(), sky((64, 128))],
                         ids=["grey crop", "grey photo", "sky photo", "sky crop"])
def test_a_photo_without_a_person_is_refused(lifter, image):
    with pytest.raises(NoPersonError, match="No person found"):
        lifter(image, require_person=True)
    r = lifter(image)  # the library default still lifts, and says what it is
    assert not r.person_found and r.method == "fallback"
    assert r.message.startswith("No person found")


def test_real_people_are_found(lifter, real_queries):
    """All four real queries, query 3 (a back view) included: the default lifting finds its
    pose on the padded crop; ``mean_body``, which does not pad, finds none and still finds
    the person (its mask)."""
    for path in real_queries:
        r = lifter(path, require_person=True)
        assert r.person_found and r.method == "pose", path.name
    unpadded = get_lifter(lifting="mean_body")(real_queries[2], require_person=True)
    assert unpadded.person_found and unpadded.method == "fallback"  # found without a pose


def test_shipped_examples_are_people(lifter):
    paths = sorted(EXAMPLES_DIR.glob("*.jpg"))
    assert paths
    for path in paths:
        assert lifter(path, require_person=True).person_found, path.name


def test_person_mask_rule():
    assert not looks_like_a_person(None)
    assert not looks_like_a_person(np.zeros((128, 64)))
    figure = np.zeros((128, 64))
    figure[10:120, 22:42] = 1.0  # a standing figure: 27% of the pixels, 86% of the rows
    assert looks_like_a_person(figure)
    blob = np.zeros((128, 64))
    blob[:40, :] = 1.0  # a band over the top third (a roof, a sky edge)
    assert not looks_like_a_person(blob)


def test_is_wide():
    assert not is_wide((64, 128)) and not is_wide((300, 400))
    assert is_wide((640, 480)) and is_wide((500, 500))


def test_crop_person_keeps_the_crop_aspect_and_pads_at_edges():
    rgb = np.zeros((200, 300, 3), np.uint8)
    rgb[50:150, 100:140] = 255
    crop = crop_person(rgb, PersonBox(100, 50, 140, 150, 2.0), margin=0.1)
    assert crop.size == (60, 120)  # 1:2, 10% of the height above and below
    inside = np.asarray(crop)
    assert inside[10:110, 10:50].min() == 255 and inside[:, :5].max() == 0
    edge = crop_person(rgb, PersonBox(0, 0, 30, 100, 2.0))
    assert edge.size == (60, 120)  # beyond the photo: filled with its edge pixels


def test_people_in_a_campus_frame(lifter, campus_frame):
    people = lifter.find_people(campus_frame)
    assert 2 <= len(people) <= 4, people
    areas = [p.area for p in people]
    assert areas == sorted(areas, reverse=True)
    h, w = campus_frame.shape[:2]
    found = set()
    for p in people:
        assert 0 <= p.x0 < p.x1 <= w and 0 <= p.y0 < p.y1 <= h and p.score >= 1.0
        cx, cy = (p.x0 + p.x1) / 2, (p.y0 + p.y1) / 2
        hits = [i for i, (x0, y0, x1, y1) in enumerate(CAMPUS_FRAME0_PEOPLE)
                if x0 <= cx <= x1 and y0 <= cy <= y1]
        assert hits, f"{p} is on none of the people"
        found.update(hits)
    assert len(found) >= 2
    # each person's crop lifts as a person
    r = lifter(crop_person(campus_frame, people[0]), require_person=True)
    assert r.person_found and r.points.shape == (8192, 6)


def test_no_people_in_a_sky(lifter):
    assert lifter.find_people(sky()) == []
