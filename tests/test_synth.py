"""Synthetic dataset: reproducible, Market-1501 names and splits, real pedestrians in the crops."""

import hashlib
import re
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image

from ognet.synth import NAME_RE, Synthesizer, generate_dataset, plan_dataset
from ognet.synth.identity import albedo

#: Independent of ognet.synth: the Market-1501 name as the data loaders read it.
MARKET = re.compile(r"^(\d{4})_c([1-6])s(\d)_(\d{6})_(\d{2})\.jpg$")
TINY = dict(identities=4, images_per_camera=(1, 2), cameras_per_identity=(2, 3))


def _digests(root):
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*.jpg"))}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth_a")
    counts = generate_dataset(root, seed=7, progress=False, **TINY)
    return root, counts


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(7)


def test_same_seed_gives_byte_identical_files(dataset, tmp_path):
    root, _ = dataset
    # Rendered again in a worker process (one torch thread there, two here): same bytes.
    generate_dataset(tmp_path, seed=7, progress=False, workers=1, **TINY)
    first, second = _digests(root), _digests(tmp_path)
    assert first and first == second
    other = tmp_path / "other_seed"
    generate_dataset(other, seed=8, progress=False, **TINY)
    assert _digests(other) != first


def test_names_parse_as_market1501(dataset):
    root, counts = dataset
    for split, n in counts.items():
        names = [p.name for p in (root / split).iterdir()]
        assert len(names) == n > 0
        for name in names:
            m = MARKET.match(name)
            assert m and NAME_RE.match(name), name
            assert int(m.group(1)) >= 1 and m.group(3) == "1"
    from ognet.data.datasets import load_dataset

    data = load_dataset(root)
    assert data.format == "market1501"
    assert len(data.split("query")) == counts["query"]
    assert {i.camid for i in data.split("gallery")} <= set(range(6))


def test_splits_disjoint_and_every_query_matches_across_cameras(dataset):
    root, _ = dataset
    cams = defaultdict(lambda: defaultdict(set))  # split -> pid -> cameras
    for split in ("bounding_box_train", "bounding_box_test", "query"):
        for p in (root / split).iterdir():
            m = MARKET.match(p.name)
            cams[split][int(m.group(1))].add(int(m.group(2)))
    train, test = set(cams["bounding_box_train"]), set(cams["bounding_box_test"])
    assert train and test and not train & test
    assert set(cams["query"]) == test
    for pid in test:
        for cam in cams["query"][pid]:
            assert cams["bounding_box_test"][pid] - {cam}, (pid, cam)
    for split in ("bounding_box_train",):
        for pid, seen in cams[split].items():
            assert len(seen) >= 2, pid


def test_plan_sees_everyone_by_two_cameras_and_keeps_one_query_per_camera():
    plan = plan_dataset(40, seed=3)
    by_pid = defaultdict(set)
    queries = defaultdict(list)
    for item in plan:
        by_pid[item.pid].add(item.cam)
        if item.split == "query":
            queries[item.pid].append(item.cam)
    assert all(len(c) >= 2 for c in by_pid.values())
    assert all(len(q) == len(set(q)) <= 3 for q in queries.values())
    assert len({i.name for i in plan}) == len(plan)  # no name is written twice
    assert set(queries) == {p for p in by_pid if p > 20}


def test_crop_is_a_person_on_a_background(synth):
    img = synth.render(3, 2, 0)
    assert img.shape == (128, 64, 3) and img.dtype == np.uint8
    assert img.std() > 15  # not blank
    # The person stands in the middle columns; the border columns are mostly background.
    middle = img[20:110, 24:40].reshape(-1, 3).mean(0)
    border = np.concatenate([img[:, :4], img[:, -4:]], axis=1).reshape(-1, 3).mean(0)
    assert np.abs(middle - border).sum() > 10
    assert np.array_equal(img, synth.render(3, 2, 0))  # a single crop is reproducible


def test_identities_differ_by_clothing(synth):
    colours = {}
    for pid in range(1, 9):
        ident = synth.identity(pid)
        colours[pid] = np.concatenate([ident.upper, ident.lower])
    pairs = [np.abs(colours[a] - colours[b]).sum() for a in colours for b in colours if a < b]
    assert min(pairs) > 0.05 and np.median(pairs) > 0.5
    # The rendered torsos carry those colours: the same person is closer to themself
    # (another camera) than to others, on average over a few people. Chromaticity (colour
    # divided by brightness) discounts each camera's exposure and light.
    def chroma(img):
        x = img[40:64, 26:38].reshape(-1, 3).astype(float) + 1
        return (x / x.sum(1, keepdims=True)).mean(0)

    same, other = [], []
    crops = {pid: [chroma(synth.render(pid, c, 1)) for c in (1, 4)] for pid in range(1, 9)}
    for a in crops:
        same.append(np.abs(crops[a][0] - crops[a][1]).sum())
        other += [np.abs(crops[a][0] - crops[b][1]).sum() for b in crops if b != a]
    assert np.mean(same) < np.mean(other)


def test_identities_differ_in_build(synth):
    """Each identity's body is drawn from the body's shape prior (anny's adults): their betas
    centre on the prior's mean, and heights and waist proportions spread as people's do."""
    from ognet.body import body_measurements

    betas = np.stack([synth.identity(pid).betas for pid in range(1, 121)])
    assert np.abs(betas.mean(0) - synth.body.betas_mean).max() < 0.4
    assert 0.8 < betas.std(0).min() and betas.std(0).max() < 1.2
    m = body_measurements(synth.body, betas)
    assert m["height_m"].std() > 0.07
    assert m["waist_width"].std() / m["waist_width"].mean() > 0.06


def test_albedo_paints_garments_on_body_parts(synth):
    from ognet.body import PART_NAMES

    pid = next(p for p in range(1, 50) if synth.identity(p).pattern == "solid"
               and synth.identity(p).sleeves == "long" and synth.identity(p).bag == "none"
               and synth.identity(p).lower_length == "trousers")
    ident, person = synth._person(pid)
    colour = albedo(ident, person.verts, synth.parts, person.joints)
    part = {n: synth.parts == i for i, n in enumerate(PART_NAMES)}
    np.testing.assert_allclose(np.median(colour[part["lower_arms"]], 0), ident.upper)
    np.testing.assert_allclose(np.median(colour[part["upper_legs"]], 0), ident.lower)
    np.testing.assert_allclose(colour[part["feet"]].mean(0), ident.shoes, atol=1e-4)
    np.testing.assert_allclose(colour[part["hands"]].mean(0), ident.skin, atol=1e-4)


def test_jpeg_files_are_128x64_rgb(dataset):
    root, _ = dataset
    for p in list((root / "query").iterdir())[:3]:
        with Image.open(p) as im:
            assert im.size == (64, 128) and im.mode == "RGB"


def test_cli_writes_a_dataset(tmp_path):
    from ognet.cli import main

    assert main(["synth", "--out", str(tmp_path), "--identities", "2", "--seed", "1",
                 "--images-per-camera", "1", "--cameras-per-identity", "2"]) == 0
    assert len(list(tmp_path.rglob("*.jpg"))) == 4
