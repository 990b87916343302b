"""Dataset parsing (four naming conventions), point-cloud datasets, augmentations, samplers."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

from ognet.data import (
    AugmentConfig,
    ClassBalancedSampler,
    DatasetLayoutError,
    PointCloudDataset,
    RandomIdentitySampler,
    ReIDItem,
    augment,
    detect_format,
    hold_out_identities,
    jitter,
    load_dataset,
    mirror_x,
    parse_name,
    random_scale,
    z_zero,
)
from ognet.pointcloud import curve_order, sample_points, save_cloud


def touch_image(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 16), (120, 30, 60)).save(path)


def write_tree(root, names: dict[str, list[str]]):
    for folder, files in names.items():
        for name in files:
            touch_image(root / folder / name)
    return root


def test_market1501_names_junk_distractors_and_relabel(tmp_path):
    root = write_tree(tmp_path, {
        "bounding_box_train": ["0002_c1s1_000451_03.jpg", "0002_c2s1_000301_01.jpg",
                               "0007_c3s3_077419_03.jpg"],
        "bounding_box_test": ["-1_c1s1_000401_03.jpg", "0000_c6s1_000121_01.jpg",
                              "0003_c2s1_000276_01.jpg"],
        "query": ["0003_c1s1_000301_00.jpg"],
    })
    assert detect_format(root) == "market1501"
    data = load_dataset(root)
    assert [(it.pid, it.camid) for it in data.train] == [(2, 0), (2, 1), (7, 2)]
    assert data.train_labels == [0, 0, 1] and data.num_train_pids == 2
    assert sorted(it.pid for it in data.gallery) == [-1, 0, 3]        # kept for evaluation
    assert data.query[0].camid == 0 and data.query[0].image_path.suffix == ".jpg"
    assert "query" in data.summary()


def test_dukemtmc_names(tmp_path):
    root = write_tree(tmp_path, {
        "bounding_box_train": ["0001_c2_f0046182.jpg", "0005_c8_f0001234.jpg"],
        "bounding_box_test": ["0010_c1_f0000001.jpg"],
        "query": ["0010_c5_f0000002.jpg"],
    })
    data = load_dataset(root)
    assert data.format == "dukemtmc"
    assert [(it.pid, it.camid) for it in data.train] == [(1, 1), (5, 7)]
    assert data.query[0].camid == 4


def test_cuhk03np_detected_folder(tmp_path):
    for kind in ("detected", "labeled"):
        write_tree(tmp_path / kind, {
            "bounding_box_train": ["1_c1_000001.png", "1_c2_000002.png", "3_c1_000010.png"],
            "bounding_box_test": ["20_c2_000004.png"],
            "query": ["20_c1_000005.png"],
        })
    data = load_dataset(tmp_path)
    assert data.format == "cuhk03np" and data.train[0].image_path.parent.parent.name == "detected"
    assert [(it.pid, it.camid) for it in data.train] == [(1, 0), (1, 1), (3, 0)]
    assert load_dataset(tmp_path / "labeled").format == "cuhk03np"


def test_msmt17_list_files_and_market_style_folders(tmp_path):
    root = tmp_path / "MSMT17_V1"
    names = {"train": ["0000/0000_000_01_0303morning_0015_0.jpg",
                       "0000/0000_001_05_0303morning_0016_0.jpg",
                       "0001/0001_002_14_0303noon_0020_1.jpg"],
             "test": ["0000/0000_000_07_0303afternoon_0001_0.jpg",
                      "0000/0000_001_02_0303afternoon_0002_0.jpg"]}
    for folder, files in names.items():
        for f in files:
            touch_image(root / folder / f)
    (root / "list_train.txt").write_text(f"{names['train'][0]} 0\n{names['train'][2]} 1\n")
    (root / "list_val.txt").write_text(f"{names['train'][1]} 0\n")
    (root / "list_query.txt").write_text(f"{names['test'][0]} 0\n")
    (root / "list_gallery.txt").write_text(f"{names['test'][1]} 0\n")
    data = load_dataset(root)
    assert data.format == "msmt17"
    assert sorted((it.pid, it.camid) for it in data.train) == [(0, 1), (0, 5), (1, 14)]
    assert data.query[0].camid == 7 and data.gallery[0].camid == 2
    # The same names in Market-style folders.
    flat = write_tree(tmp_path / "flat", {
        "bounding_box_train": ["0003_010_04_0303morning_0015_0.jpg"],
        "bounding_box_test": ["0004_011_02_0303noon_0001_0.jpg"],
        "query": ["0004_012_03_0303noon_0002_0.jpg"],
    })
    data = load_dataset(flat)
    assert data.format == "msmt17" and (data.train[0].pid, data.train[0].camid) == (3, 4)


def test_parse_name_conventions():
    assert parse_name("0002_c1s1_000451_03", "market1501") == (2, 0)
    assert parse_name("-1_c3s2_000001_01", "market1501") == (-1, 2)
    assert parse_name("0001_c2_f0046182", "dukemtmc") == (1, 1)
    assert parse_name("1_c1_000001", "cuhk03np") == (1, 0)
    assert parse_name("0000_000_01_0303morning_0015_0", "msmt17") == (0, 1)
    with pytest.raises(DatasetLayoutError):
        parse_name("person_001", "market1501")


def test_layout_errors_name_the_folder(tmp_path):
    with pytest.raises(DatasetLayoutError, match="not found"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetLayoutError, match="bounding_box_train"):
        load_dataset(tmp_path / "empty")
    root = write_tree(tmp_path / "bad", {"bounding_box_train": ["holiday.jpg"],
                                         "bounding_box_test": ["0001_c1s1_000001_00.jpg"],
                                         "query": ["0001_c2s1_000001_00.jpg"]})
    with pytest.raises(DatasetLayoutError, match=r"bounding_box_train.*holiday"):
        load_dataset(root, "market1501")
    (root / "bounding_box_train" / "holiday.jpg").unlink()
    with pytest.raises(DatasetLayoutError, match=r"bounding_box_train: no images"):
        load_dataset(root, "market1501")
    # The evaluation splits alone need no train folder.
    assert len(load_dataset(root, "market1501", splits=("query", "gallery")).query) == 1


def cloud(n=8192, seed=0):
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.normal(size=(n, 3)), rng.random((n, 3))], 1).astype(np.float32)


def test_images_and_clouds_with_one_stem_are_one_item(tmp_path):
    root = tmp_path
    for folder, name in (("bounding_box_train", "0001_c1s1_000001_00"),
                         ("bounding_box_test", "0002_c1s1_000001_00"),
                         ("query", "0002_c2s1_000001_00")):
        touch_image(root / folder / f"{name}.jpg")
        save_cloud(root / folder / f"{name}.npz", cloud())
    data = load_dataset(root)
    it = data.train[0]
    assert it.image_path.suffix == ".jpg" and it.cloud_path.suffix == ".npz"
    assert it.path == it.cloud_path
    with pytest.raises(ValueError, match="prepare"):
        PointCloudDataset([ReIDItem(1, 0, image_path=it.image_path)])


def test_augmentations_keep_shape_colors_and_identity():
    pts = cloud(4096)
    rng = np.random.default_rng(0)
    scaled = random_scale(pts, 0.5, 0.5, rng)
    np.testing.assert_allclose(scaled[:, :3], pts[:, :3] * 0.5, rtol=1e-6)
    noisy = jitter(pts, 0.01, 0.02, rng)
    assert np.abs(noisy[:, :3] - pts[:, :3]).max() <= 0.02 + 1e-6
    flipped = mirror_x(pts)
    np.testing.assert_array_equal(flipped[:, 0], -pts[:, 0])
    np.testing.assert_array_equal(mirror_x(flipped), pts)
    assert (z_zero(pts)[:, 2] == 0).all()
    out = augment(pts, AugmentConfig(), rng)
    assert out.shape == pts.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 3:], pts[:, 3:])          # colors untouched


def test_augmentation_ranges_are_the_authors():
    """Each axis scaled on its own by U(0.75, 1.33); jitter N(0, 0.01^2) clipped at 0.01;
    x mirrored half of the time."""
    pts = cloud(2048)
    pts[:, :3] = np.abs(pts[:, :3]) + 0.5               # positive and away from 0
    rng = np.random.default_rng(1)
    cfg = AugmentConfig()
    assert cfg.scale == (0.75, 1.33) and cfg.jitter_sigma == 0.01 and cfg.jitter_clip == 0.01
    factors, flips = [], 0
    for _ in range(400):
        out = augment(pts, cfg, rng)
        flips += out[0, 0] < 0
        ratio = np.abs(out[:, :3]) / pts[:, :3]          # scale * (1 + noise / x)
        f = np.median(ratio, axis=0)
        factors.append(f)
        # noise = out - s * x within the clip: |out| / x stays within s +- 0.01 / x
        np.testing.assert_array_less(np.abs(np.abs(out[:, :3]) - f * pts[:, :3]),
                                     0.01 * 1.01 + 0.02 * pts[:, :3])
    factors = np.array(factors)
    assert factors.min() >= 0.75 - 0.01 and factors.max() <= 1.33 + 0.01
    assert factors.min() < 0.78 and factors.max() > 1.30            # the whole range is used
    assert abs(np.corrcoef(factors[:, 0], factors[:, 1])[0, 1]) < 0.2  # axes independent
    assert 150 < flips < 250
    noise = jitter(np.zeros((100_000, 6), np.float32), 0.01, 0.01, rng)[:, :3]
    assert np.abs(noise).max() <= 0.01 + 1e-7
    assert 0.006 < noise.std() < 0.01                   # sigma 0.01, clipped at one sigma


def test_pointcloud_dataset_sampling_and_determinism(tmp_path):
    items = []
    for i in range(3):
        p = tmp_path / f"000{i + 1}_c1s1_000001_00.npz"
        save_cloud(p, cloud(seed=i))
        items.append(ReIDItem(pid=i + 1, camid=0, cloud_path=p))
    train = PointCloudDataset(items, labels=[0, 1, 2], train=True, seed=5)
    x = train[1]
    assert x["points"].shape == (4096, 6) and x["label"] == 1 and x["pid"] == 2
    np.testing.assert_array_equal(train[1]["points"], x["points"])   # same epoch, same draw
    train.set_epoch(1)
    assert not np.array_equal(train[1]["points"], x["points"])       # a new epoch, a new draw
    ev = PointCloudDataset(items, num_points=1024, z_zero=True)
    a = ev[0]["points"]
    assert a.shape == (1024, 6) and (a[:, 2] == 0).all()
    np.testing.assert_array_equal(ev[0]["points"], a)
    # Evaluation draws are points of the cloud, with their colors unchanged.
    full = np.asarray(cloud(seed=0), dtype=np.float16).astype(np.float32)
    rows = {tuple(r) for r in full[:, [0, 1, 3, 4, 5]]}
    assert all(tuple(r) in rows for r in a.numpy()[:, [0, 1, 3, 4, 5]])
    np.testing.assert_array_equal(ev.pids, [1, 2, 3])


def test_sample_points_modes():
    pts = np.arange(8192 * 6, dtype=np.float32).reshape(8192, 6)
    along = pts[curve_order(pts)]                       # the rows along the cloud's curve
    position = np.argsort(curve_order(pts))             # each row's place along it
    strided = sample_points(pts, 4096)                  # default: stride, as the app uses
    np.testing.assert_array_equal(strided, along[::2])
    np.testing.assert_array_equal(sample_points(pts, 2048, mode="stride"), along[::4])
    rows = position[sample_points(pts, 4096, mode="random", seed=3)[:, 0].astype(int) // 6]
    assert len(np.unique(rows)) == 4096 and np.all(np.diff(rows) > 0)
    assert not np.array_equal(rows, np.arange(0, 8192, 2))
    # train: half random, half strided with a random phase (0 or 1 for 8192 -> 4096)
    rng = np.random.default_rng(0)
    kinds = Counter()
    for _ in range(200):
        r = position[sample_points(pts, 4096, mode="train", rng=rng)[:, 0].astype(int) // 6]
        d = np.unique(np.diff(r))
        kinds["stride" if d.tolist() == [2] else "random"] += 1
        if d.tolist() == [2]:
            kinds[f"phase{int(r[0])}"] += 1
    assert 70 < kinds["stride"] < 130 and kinds["phase0"] > 20 and kinds["phase1"] > 20
    small = sample_points(pts[:100], 256)               # fewer rows than asked: rows repeat
    assert small.shape == (256, 6) and len(np.unique(small[:, 0])) == 100
    with pytest.raises(ValueError, match="mode"):
        sample_points(pts, 10, mode="fps")


def test_class_balanced_sampler():
    labels = [0] * 30 + [1] * 3 + [2] * 7
    iid = ClassBalancedSampler(labels, seed=0)
    counts = Counter()
    for epoch in range(50):
        iid.set_epoch(epoch)
        order = list(iid)
        assert len(order) == len(iid) == len(labels)
        counts.update(labels[i] for i in order)
    shares = np.array([counts[c] for c in range(3)]) / sum(counts.values())
    np.testing.assert_allclose(shares, 1 / 3, atol=0.03)   # identities equally likely
    iid.set_epoch(0)
    assert list(iid) == list(iid)                          # same epoch, same order
    per = ClassBalancedSampler(labels, per_class=3, seed=0)
    order = list(per)
    assert len(order) == len(per) == 45                    # ceil(40 / 9) = 5 passes of 9
    for p in range(5):
        assert Counter(labels[i] for i in order[p * 9:(p + 1) * 9]) == {0: 3, 1: 3, 2: 3}
    with pytest.raises(ValueError, match="per_class"):
        ClassBalancedSampler(labels, per_class=-1)


def test_hold_out_identities_for_validation(tmp_path):
    names = [f"{pid:04d}_c{cam}s1_{j:06d}_00.jpg" for pid in range(1, 7) for cam in (1, 2)
             for j in range(2)] + ["0007_c1s1_000000_00.jpg"]      # pid 7: one camera only
    root = write_tree(tmp_path, {"bounding_box_train": names,
                                 "bounding_box_test": ["0101_c1s1_000001_00.jpg"],
                                 "query": ["0101_c2s1_000001_00.jpg"]})
    data = load_dataset(root)
    train, query, gallery = hold_out_identities(data, 2, seed=0)
    held = {it.pid for it in query}
    assert len(held) == 2 and 7 not in held and held == {it.pid for it in gallery}
    assert not held & {it.pid for it in train.train} and train.num_train_pids == 5
    assert train.train_labels == sorted(train.train_labels) and max(train.train_labels) == 4
    assert len(query) == 4 and len(gallery) == 4           # one query per identity and camera
    assert train.query == data.query                      # the test split is untouched
    with pytest.raises(ValueError, match="two cameras"):
        hold_out_identities(data, 7)


def test_identity_sampler_balances_batches():
    labels = [0] * 7 + [1] * 2 + [2] * 5 + [3] * 4 + [4] * 1
    sampler = RandomIdentitySampler(labels, batch_size=6, num_instances=2, seed=0)
    order = list(sampler)
    assert len(order) == len(sampler) and len(order) % 6 == 0 and len(order) >= 12
    for b in range(0, len(order), 6):
        counts = Counter(labels[i] for i in order[b:b + 6])
        assert len(counts) == 3 and set(counts.values()) == {2}
    assert list(sampler) == order                        # same epoch, same order
    sampler.set_epoch(1)
    assert list(sampler) != order
    with pytest.raises(ValueError, match="multiple"):
        RandomIdentitySampler(labels, batch_size=5, num_instances=2)


def test_prepared_tree_gets_images_from_the_source_tree(tmp_path):
    names = {"bounding_box_train": "0001_c1s1_000001_00", "bounding_box_test":
             "0002_c1s1_000001_00", "query": "0002_c2s1_000001_00"}
    for folder, name in names.items():
        save_cloud(tmp_path / "clouds" / folder / f"{name}.npz", cloud(64))
        touch_image(tmp_path / "images" / folder / f"{name}.jpg")
    plain = load_dataset(tmp_path / "clouds")
    assert plain.gallery[0].image_path is None
    data = load_dataset(tmp_path / "clouds", image_root=tmp_path / "images",
                        splits=("query", "gallery"))
    assert data.gallery[0].image_path == tmp_path / "images" / "bounding_box_test" / \
        f"{names['bounding_box_test']}.jpg"
    assert data.query[0].cloud_path.suffix == ".npz"
    with pytest.raises(DatasetLayoutError, match="image folder"):
        load_dataset(tmp_path / "clouds", image_root=tmp_path / "nope")


def test_isotropic_scale_keeps_proportions():
    """``isotropic``: one factor for x, y and z, so every ratio of the person's extents is
    kept (per axis, the authors' draw, changes them)."""
    pts = cloud(2048)
    extent = np.ptp(pts[:, :3], axis=0)
    rng = np.random.default_rng(2)
    iso, per_axis = [], []
    for _ in range(50):
        out = random_scale(pts, 0.75, 1.33, rng, isotropic=True)
        e = np.ptp(out[:, :3], axis=0)
        np.testing.assert_allclose(e / e[0], extent / extent[0], rtol=1e-5)
        iso.append(e[0] / extent[0])
        e = np.ptp(augment(pts, AugmentConfig(jitter_sigma=0.0, flip_prob=0.0), rng)[:, :3], 0)
        per_axis.append(np.abs(e[1] / e[0] - extent[1] / extent[0]))
    assert 0.75 <= min(iso) and max(iso) <= 1.33 and max(iso) - min(iso) > 0.3
    assert np.median(per_axis) > 0.05                   # the default changes proportions
    out = augment(pts, AugmentConfig(isotropic=True, jitter_sigma=0.0, flip_prob=0.0), rng)
    ratios = out[:, :3] / pts[:, :3]
    np.testing.assert_allclose(ratios, ratios[0, 0], rtol=1e-5)


def test_person_points_only_drop_the_background(tmp_path):
    """``background=False`` samples from the rows on the cloud's mask only, in training and
    in evaluation; a cloud without a mask is refused with the reason."""
    pts = cloud(8192, seed=3)
    mask = np.zeros((128, 64), bool)
    mask[30:90, 20:44] = True                           # 1440 person pixels
    pts[~mask.reshape(-1), 2] = 0.0                     # the background plane
    path = tmp_path / "0001_c1s1_000001_00.npz"
    save_cloud(path, pts, mask=mask)
    person = {tuple(r) for r in pts[mask.reshape(-1)].astype(np.float16).astype(np.float32)}
    item = ReIDItem(pid=1, camid=0, cloud_path=path)
    for train in (False, True):
        ds = PointCloudDataset([item], labels=[0], train=train, num_points=1024,
                               background=False, augment_config=AugmentConfig(
                                   scale=(1.0, 1.0), jitter_sigma=0.0, flip_prob=0.0))
        got = ds[0]["points"].numpy()
        assert got.shape == (1024, 6)
        assert all(tuple(r) in person for r in got)
        full = PointCloudDataset([item], num_points=4096)[0]["points"].numpy()
        assert (full[:, 2] == 0).sum() > 2000           # with the background: mostly plane
    bare = tmp_path / "0002_c1s1_000001_00.npz"
    save_cloud(bare, pts)
    with pytest.raises(ValueError, match="mask"):
        PointCloudDataset([ReIDItem(pid=2, camid=0, cloud_path=bare)], background=False)[0]
