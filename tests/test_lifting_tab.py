"""The Lifting tab's text and picture (``ui.text.lifting_notes``, ``viz.lifting_overlay``),
from real lifts of a generator crop with both liftings: the notes carry the build's
percentiles (as ``describe_build`` gives them), the pitch, lean and facing of the lift, and
say plainly what is not estimated; the overlay's outlines come from the right arrays."""

from __future__ import annotations

import dataclasses
import re
from types import SimpleNamespace

import numpy as np
import pytest

from ognet.lift import Lifter
from ognet.lift.build import describe_build
from ui import text

#: A generator crop (world 0, identity 7, camera 2) with a pose MediaPipe finds.
CROP = (0, 7, 2, 0)


@pytest.fixture(scope="module")
def crop() -> np.ndarray:
    from ognet.synth import Synthesizer

    seed, pid, cam, index = CROP
    return Synthesizer(seed).render(pid, cam, index)


@pytest.fixture(scope="module")
def lifts(crop) -> dict:
    return {name: Lifter(lifting=name)(crop) for name in ("person", "mean_body")}


def notes_of(lift) -> str:
    return text.lifting_notes(SimpleNamespace(lift=lift, name="crop.jpg", cloud=lift.points))


def test_person_notes_carry_the_build_percentiles_pitch_lean_and_no_height(lifts):
    lift = lifts["person"]
    assert lift.lifting == "person" and lift.camera_pitch_deg is not None
    notes = notes_of(lift)
    assert "lifting: person" in notes
    # the build: every measure's ratio and percentile, read back from the words
    said = {}
    head = [h.removesuffix(" / height") for h in
            re.search(r"^\| trunk \| (.*) \|$", notes, re.M).group(1).split(" | ")]
    for level, rest in re.findall(r"^\| (chest|waist|hip) \| (.*) \|$", notes, re.M):
        for dim, cell in zip(head, rest.split(" | "), strict=True):
            ratio, pct = re.fullmatch(r"([0-9.]+) · (\d+)\w\w percentile", cell).groups()
            said[f"{level}_{dim}"] = (float(ratio), int(pct))
    build = describe_build(lift.betas)
    assert set(said) == {m.name for m in build}
    for m in build:
        assert abs(said[m.name][0] - m.ratio) <= 0.005, (m, said[m.name])
        assert said[m.name][1] == round(m.percentile), (m, said[m.name])
    # the pose and camera, as the lift has them
    line = dict(re.findall(r"^- (camera pitch|lean towards the camera|facing): (.*)$", notes,
                           re.M))
    assert line["camera pitch"].startswith(f"{abs(lift.camera_pitch_deg):.1f}°")
    assert ("looking down" if lift.camera_pitch_deg >= 0 else "looking up") in line[
        "camera pitch"]
    assert line["lean towards the camera"].startswith(f"{lift.lean_deg:+.1f}°")
    assert f"yaw {lift.yaw_deg:+.0f}°" in line["facing"]
    assert "flipped 3D pose repaired: " + ("**yes**" if lift.flip_repaired else "no") in notes
    # no height: said plainly
    assert lift.height_m is None
    assert "A single crop has no absolute scale, so no height is estimated" in notes


def test_a_repaired_flip_and_a_known_height_are_said(lifts, crop):
    lift = dataclasses.replace(lifts["person"], flip_repaired=True, lean_correction_deg=171.0)
    notes = notes_of(lift)
    assert "flipped 3D pose repaired: **yes**" in notes and "171°" in notes
    tall = Lifter(lifting="person")(crop, height_m=1.83)
    notes = notes_of(tall)
    assert "**Height**: 1.83 m" in notes and "no absolute scale" not in notes


def test_mean_body_notes_say_the_build_and_lean_are_not_estimated(lifts):
    lift = lifts["mean_body"]
    notes = notes_of(lift)
    assert "lifting: mean_body" in notes
    assert "Build, camera pitch, lean and facing: not estimated** by the mean_body lifting" in (
        notes)
    assert "percentile" not in notes and "camera pitch:" not in notes
    assert "A single crop has no absolute scale" in notes


def test_other_body_model_files_say_the_build_is_not_estimated(lifts):
    lift = lifts["person"]
    notes = text.lifting_notes(SimpleNamespace(lift=lift, name="x", cloud=lift.points),
                               body_model_dir="/some/smpl")
    assert "not estimated with these body model files" in notes and "percentile" not in notes
    assert "camera pitch:" in notes


def test_overlay_of_a_real_lift_outlines_the_body_and_the_mask(lifts):
    """On a real ``"person"`` lift (its foreground is not its body): every yellow pixel of
    the enlarged overlay lies on the fitted body, every blue one off the person mask."""
    import viz
    from viz.overlay import OVERLAY_COLOURS

    lift = lifts["person"]
    assert (lift.foreground != lift.body_pixels).any()
    s = 4
    out = np.asarray(viz.lifting_overlay(lift.image, lift.mask, lift.foreground, None,
                                         body=lift.body_pixels, scale=s))
    rows, cols = np.indices(out.shape[:2])
    yellow = (out == OVERLAY_COLOURS["body"]).all(-1)
    blue = (out == OVERLAY_COLOURS["mask"]).all(-1)
    assert yellow.sum() > 200 and blue.sum() > 200
    assert lift.body_pixels[rows[yellow] // s, cols[yellow] // s].all()
    assert not (lift.mask > 0.5)[rows[blue] // s, cols[blue] // s].any()


def test_legend_names_each_colour_of_the_overlay():
    from viz.overlay import OVERLAY_COLOURS

    legend = text.lifting_legend(OVERLAY_COLOURS)
    for key in ("mask", "body", "bones"):
        assert f"rgb{tuple(OVERLAY_COLOURS[key])}" in legend
    for words in ("person mask", "fitted body", "lifted pixels", "background", "2D skeleton"):
        assert words in legend


def test_warm_up_places_the_build_population_before_the_first_query(tmp_path):
    """With a ``"person"`` gallery, the pipeline's warm-up draws the population the build is
    placed in (about a second), so the first query's Lifting tab does not wait for it."""
    from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY
    from ognet.gallery import GalleryIndex
    from ognet.lift import build
    from ognet.pipeline import ReIDPipeline

    if not (DEFAULT_CHECKPOINT.exists() and (DEFAULT_GALLERY / "index.safetensors").exists()):
        pytest.skip("the demo checkpoint and gallery are not present")
    gallery = GalleryIndex.load(DEFAULT_GALLERY)
    gallery.meta["lifting"] = "person"
    gallery.save(tmp_path / "person")
    pipe = ReIDPipeline(DEFAULT_CHECKPOINT, tmp_path / "person", device="cpu")
    build._population.cache_clear()
    pipe.warm_up()
    assert build._population.cache_info().currsize == 1
