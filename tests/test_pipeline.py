"""ReIDPipeline on bad input: no person -> no matches; several people -> one chosen, and
said so. ``export_query``: the Export tab's files, read back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ognet.assets import EXAMPLES_DIR
from ognet.gallery import GalleryIndex
from ognet.lift import LiftError, NoPersonError
from ognet.pipeline import PipelineError, ReIDPipeline

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


def read_binary_ply(path: Path) -> np.ndarray:
    """The vertex element of a binary little-endian ``.ply`` as a structured array, read from
    the format's definition (header lines, then the packed rows), not through Open3D."""
    types = {"char": "i1", "uchar": "u1", "short": "<i2", "ushort": "<u2", "int": "<i4",
             "uint": "<u4", "float": "<f4", "double": "<f8"}
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    header = data[:end].decode("ascii").splitlines()
    assert header[0] == "ply" and header[1] == "format binary_little_endian 1.0", header[:2]
    count = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    fields = [(line.split()[2], types[line.split()[1]]) for line in header
              if line.startswith("property ")]
    return np.frombuffer(data, dtype=np.dtype(fields), count=count, offset=end)


def test_export_writes_the_cloud_the_embedding_and_the_traces(pipe, tmp_path):
    """``export_query``: three files named after the query; the .ply holds the query's whole
    cloud (xyz exactly, colours as bytes), the .npy the model's embedding of the points it saw,
    the .npz every module's trace, chained (each module's input is the last one's output) and
    read back unchanged; the .ply searched again gives the same cloud."""
    from ognet.pipeline import export_query

    example = sorted(EXAMPLES_DIR.glob("*.jpg"))[0]
    result = pipe.run(example)
    paths = export_query(result, tmp_path / "out")
    stem = example.stem
    assert paths == [tmp_path / "out" / f"{stem}_{kind}"
                     for kind in ("cloud.ply", "embedding.npy", "trace.npz")]

    ply = read_binary_ply(paths[0])
    assert len(ply) == len(result.cloud) == 8192
    xyz = np.stack([ply["x"], ply["y"], ply["z"]], axis=1)
    np.testing.assert_array_equal(xyz, result.cloud[:, :3])
    rgb = np.stack([ply["red"], ply["green"], ply["blue"]], axis=1) / 255.0
    np.testing.assert_allclose(rgb, result.cloud[:, 3:], atol=0.5 / 255 + 1e-6)

    embedding = np.load(paths[1])
    assert embedding.shape == (pipe.model.config.embed_dim,) and embedding.dtype == np.float32
    import torch

    with torch.no_grad():
        want = pipe.model.extract(torch.from_numpy(result.points)[None])[0].numpy()
    np.testing.assert_allclose(embedding, want, atol=1e-6)

    with np.load(paths[2]) as npz:
        trace = dict(npz)
    flat = result.trace.to_numpy()
    assert set(trace) == set(flat)
    for key, value in flat.items():
        np.testing.assert_array_equal(trace[key], value, err_msg=key)
    np.testing.assert_array_equal(trace["points"], result.points)
    np.testing.assert_array_equal(trace["embedding"], embedding)
    stages = [p for p in pipe.model.config.stage_points if p]
    inputs = trace["points"][:, :3]
    for i, m in enumerate(stages, start=1):
        np.testing.assert_array_equal(trace[f"module{i}/in_xyz"], inputs)
        idx = trace[f"module{i}/sampled_idx"]
        assert idx.shape == (m,) and len(np.unique(idx)) == m
        np.testing.assert_array_equal(trace[f"module{i}/out_xyz"], inputs[idx])
        inputs = trace[f"module{i}/out_xyz"]

    again = pipe.run(paths[0])
    np.testing.assert_allclose(again.cloud, result.cloud, atol=0.5 / 255 + 1e-6)


def test_export_names(pipe, tmp_path):
    """The stem: given, else the query's file name, else ``query``."""
    from ognet.pipeline import export_query

    result = pipe.run(sorted(EXAMPLES_DIR.glob("*.jpg"))[0])
    assert export_query(result, tmp_path, stem="mine")[0].name == "mine_cloud.ply"
    result.name = None
    assert [p.name for p in export_query(result, tmp_path)] == [
        "query_cloud.ply", "query_embedding.npy", "query_trace.npz"]


# ---------------------------------------------------------------------------- galleries
@pytest.fixture(scope="module")
def two_galleries(tmp_path_factory):
    """A pipeline holding two galleries of one checkpoint: ``a`` (random features) and ``b``
    (random features and, as item 5 with pid 42, the embedding of the first example photo),
    and that photo."""
    from ognet.assets import EXAMPLES_DIR

    root = tmp_path_factory.mktemp("two")
    ckpt, a = small_assets(root)
    photo = sorted(EXAMPLES_DIR.glob("*.jpg"))[0]
    embedding = ReIDPipeline(ckpt, a, device="cpu").run(photo).embedding
    feats = np.random.default_rng(1).normal(size=(12, len(embedding)))
    feats[5] = embedding
    pids = np.repeat(np.arange(1, 7), 2)
    pids[5] = 42
    GalleryIndex(feats / np.linalg.norm(feats, axis=1, keepdims=True), pids, [0, 1] * 6,
                 meta=SMALL).save(root / "b")
    return ReIDPipeline(ckpt, {"a": a, "b": root / "b"}, device="cpu"), photo, root / "b"


def test_each_query_searches_the_gallery_it_names(two_galleries):
    pipe, photo, b_path = two_galleries
    assert pipe.gallery_name == "a" and list(pipe.galleries) == ["a", "b"]
    in_a, in_b = pipe.run(photo), pipe.run(photo, gallery="b")
    assert in_a.gallery == "a" and {m.gallery for m in in_a.matches} == {"a"}
    assert in_b.gallery == "b" and {m.gallery for m in in_b.matches} == {"b"}
    top = in_b.matches[0]
    assert (top.index, top.pid) == (5, 42) and top.similarity > 0.999
    assert 42 not in [m.pid for m in in_a.matches]
    # confident: above the threshold calibrated on gallery b itself
    threshold = GalleryIndex.load(b_path).calibration["threshold"]
    assert top.confident and in_b.confident
    assert [m.confident for m in in_b.matches] == [m.similarity > threshold
                                                   for m in in_b.matches]
    # the rule itself: "above", at a threshold falling between ranks 2 and 3
    calibration = pipe.using("b").gallery.meta["calibration"]
    stored = calibration["threshold"]
    try:
        calibration["threshold"] = in_b.matches[2].similarity
        again = pipe.using("b").search(in_b.embedding)
        assert [m.confident for m in again] == [True, True, False, False, False]
    finally:
        calibration["threshold"] = stored
    assert pipe.using("b") is pipe.using("b") and pipe.using("a") is pipe
    with pytest.raises(ValueError, match="unknown gallery 'c'"):
        pipe.run(photo, gallery="c")


def test_explanations_and_what_if_use_the_gallery_searched(two_galleries):
    """The explanation of gallery b's top match adds up to its similarity (with gallery a's
    item 5 it would not); what-if re-ranks in gallery b."""
    pipe, photo, _ = two_galleries
    result = pipe.run(photo, gallery="b")
    ex = pipe.explain(result, 1, with_match=False)
    assert sum(ex.parts.values()) + ex.bias == pytest.approx(result.matches[0].similarity,
                                                             abs=1e-3)
    w = pipe.what_if(result, "greyscale")
    assert {m.gallery for m in w.matches} == {"b"}


def test_the_lifter_is_the_galleries_lifting(tmp_path):
    ckpt, gallery = small_assets(tmp_path / "legacy")     # a file without "lifting"
    pipe = ReIDPipeline(ckpt, gallery, device="cpu")
    assert pipe.gallery.lifting == "mean_body" and pipe.lifter.lifting == "mean_body"
    assert pipe.describe()["galleries"]["gallery"]["lifting"] == "mean_body"
    ckpt, other = small_assets(tmp_path / "other", lifting="photo_depth")
    with pytest.raises(PipelineError, match="lifting 'photo_depth'"):
        ReIDPipeline(ckpt, {"legacy": gallery, "other": other}, device="cpu")


def test_a_checkpoint_trained_without_background_is_refused(tmp_path):
    """A study arm trained on the person's points only (``train --no-background``) would be
    fed whole clouds by the app and by ``index``: both refuse it, saying why."""
    import json

    from ognet.cli import main

    ckpt, gallery = small_assets(tmp_path)
    meta_path = ckpt.with_suffix(".json")
    meta = json.loads(meta_path.read_text())
    meta["background"] = False
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(PipelineError, match="person's points only"):
        ReIDPipeline(ckpt, gallery, device="cpu")
    assert main(["index", "--checkpoint", str(ckpt), "--data", str(tmp_path),
                 "--out", str(tmp_path / "g2"), "--device", "cpu"]) == 2
