"""ReIDPipeline on bad input: no person -> no matches; several people -> one chosen, and
said so."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ognet.gallery import GalleryIndex
from ognet.lift import LiftError, NoPersonError
from ognet.pipeline import ReIDPipeline

CAMPUS_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")
#: What ``small_assets`` builds: an untrained OG-Net-Small reading 1024 points.
SMALL = {"model": "ognet_small", "num_points": 1024, "z_zero": False}


def small_assets(root: Path, **gallery_meta) -> tuple[Path, Path]:
    """An untrained OG-Net-Small checkpoint (1024 points) and a 12-item gallery of random
    unit features recorded as built by it (``gallery_meta`` overrides the record). These
    tests check what the pipeline does with its input, not what it finds."""
    import torch

    from ognet import create_model
    from ognet.engine.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = create_model("ognet_small", num_points=1024, stage_points=(256, 128, 64, 32))
    ckpt = save_checkpoint(root / "model.safetensors", model.eval())
    feats = np.random.default_rng(0).normal(size=(12, model.config.embed_dim))
    GalleryIndex(feats / np.linalg.norm(feats, axis=1, keepdims=True), np.repeat(range(6), 2),
                 [0, 1] * 6, meta={**SMALL, **gallery_meta}).save(root / "gallery")
    return ckpt, root / "gallery"


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return ReIDPipeline(*small_assets(tmp_path_factory.mktemp("assets")), device="cpu")


@pytest.fixture(scope="module")
def campus_photo(tmp_path_factory) -> Path:
    if not CAMPUS_VIDEO.is_file():
        pytest.skip(f"{CAMPUS_VIDEO} is missing (Debian package opencv-doc)")
    import cv2

    cap = cv2.VideoCapture(str(CAMPUS_VIDEO))
    ok, frame = cap.read()
    cap.release()
    assert ok
    path = tmp_path_factory.mktemp("campus") / "campus.jpg"
    Image.fromarray(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)).save(path, quality=92)
    return path


def test_no_person_no_matches(pipe, tmp_path):
    for name, colour in (("grey.png", (128, 128, 128)), ("white.jpg", (255, 255, 255))):
        path = tmp_path / name
        Image.new("RGB", (640, 480), colour).save(path)
        with pytest.raises(NoPersonError, match="No person found"):
            pipe.run(path)


def test_a_real_back_view_still_searches(pipe, real_queries):
    result = pipe.run(real_queries[2])
    assert result.lift.method == "fallback" and len(result.matches) == 5


def test_a_crop_is_not_searched_for_people(pipe, real_queries):
    result = pipe.run(real_queries[0])
    assert result.people == [] and result.person is None and result.note == ""


def test_several_people_largest_first_or_picked(pipe, campus_photo):
    first = pipe.run(campus_photo)
    assert len(first.people) >= 2 and first.person == 0
    assert "people found" in first.note and "the largest" in first.note
    assert len(first.matches) == 5 and first.lift.person_found
    second = pipe.run(campus_photo, person=1)
    assert second.person == 1 and "#2" in second.note
    assert not np.array_equal(first.lift.image, second.lift.image)
    with pytest.raises(LiftError, match="no person #"):
        pipe.run(campus_photo, person=len(first.people))
