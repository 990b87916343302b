"""Training end to end on generated identities: train -> checkpoint -> resume -> index -> search,
plus checkpoint round trips and errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from test_metrics import brute_force

from ognet.cli import main as cli_main
from ognet.engine import (
    CheckpointError,
    TrainConfig,
    check_not_test_selected,
    load_model,
    lr_factor,
    read_checkpoint_meta,
    save_checkpoint,
    train,
)
from ognet.engine.checkpoint import load_backbone, load_state_dict
from ognet.gallery import GalleryIndex
from ognet.models import create_model
from ognet.pointcloud import save_cloud

NUM_IDS = 4
CLOUD_POINTS = 8192  # as lifted: one point per pixel of a 128x64 crop
# A tiny OG-Net-Small so that CPU training takes seconds.
TINY = {"channels": [16, 32, 32, 64], "stage_points": [128, 64, 32, 16], "k": 8,
        "group_sizes": [4, 8, 16]}


def make_cloud(pid: int, rng: np.random.Generator, n: int = CLOUD_POINTS) -> np.ndarray:
    """A person-sized ellipsoid whose radii and two-tone colors depend on ``pid``; (n, 6)."""
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    radii = np.array([0.15 + 0.05 * pid, 0.8, 0.1 + 0.04 * (pid % 3)])
    xyz = d * radii + rng.normal(0, 0.005, size=(n, 3))
    palette = np.array([[0.9, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.2, 0.9], [0.9, 0.9, 0.1],
                        [0.8, 0.2, 0.8], [0.1, 0.9, 0.9]])
    top, bottom = palette[pid % len(palette)], palette[(pid + 2) % len(palette)]
    rgb = np.where(xyz[:, 1:2] > 0, top, bottom) + rng.normal(0, 0.03, size=(n, 3))
    return np.concatenate([xyz, np.clip(rgb, 0, 1)], axis=1).astype(np.float32)


def write_market_tree(root, num_ids: int = NUM_IDS, per_cam: int = 3, seed: int = 0):
    """A prepared Market-1501 tree: train ids 1..num_ids, test ids 101..100+num_ids; two
    cameras; query = one cloud per camera per test id; one junk (-1) and one distractor (0)."""
    rng = np.random.default_rng(seed)
    for split, offset in (("bounding_box_train", 1), ("bounding_box_test", 101)):
        for i in range(num_ids):
            pid = offset + i
            for cam in (1, 2):
                for j in range(per_cam):
                    save_cloud(root / split / f"{pid:04d}_c{cam}s1_{j:06d}_00.npz",
                               make_cloud(i, rng))
                if split == "bounding_box_test":
                    save_cloud(root / "query" / f"{pid:04d}_c{cam}s1_{99:06d}_00.npz",
                               make_cloud(i, rng))
    save_cloud(root / "bounding_box_test" / "-1_c1s1_000001_00.npz", make_cloud(0, rng))
    save_cloud(root / "bounding_box_test" / "0000_c2s1_000002_00.npz", make_cloud(5, rng))
    return root


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    return write_market_tree(tmp_path_factory.mktemp("market"))


def tiny_config(data, out, **kw) -> TrainConfig:
    values = dict(data=str(data), out_dir=str(out), model="ognet_small", model_overrides=TINY,
                  num_points=256, k=8, epochs=4, batch_size=8, lr=3e-3, warmup_epochs=1,
                  eval_every=2, workers=0, device="cpu", seed=3)
    values.update(kw)
    return TrainConfig(**values)


def test_lr_schedule_warms_up_then_decays():
    f = [lr_factor(s, 100, 10, 0.01) for s in range(100)]
    assert f[0] == pytest.approx(0.1) and f[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(f[10:], f[11:], strict=False))
    assert f[-1] == pytest.approx(0.01, abs=2e-3)


@pytest.mark.slow
def test_train_checkpoint_resume_index_search(market, tmp_path):
    # Four epochs straight, the last two weight-averaged ...
    full = train(tiny_config(market, tmp_path / "full", average_last=0.5), progress=False)
    # ... and three, then one more resumed from `last` (inside the averaging window), give
    # the same weights and the same average.
    train(tiny_config(market, tmp_path / "split", average_last=0.5), progress=False,
          stop_epoch=3)
    assert not (tmp_path / "split" / "final.safetensors").exists()
    resumed = train(tiny_config(market, tmp_path / "split", average_last=0.5, resume=True),
                    progress=False)
    for name in ("last", "final"):
        a = load_state_dict(tmp_path / "full" / f"{name}.safetensors")
        b = load_state_dict(tmp_path / "split" / f"{name}.safetensors")
        for key in a:
            torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5, msg=key)
    assert resumed["metrics"]["loss"] == pytest.approx(full["metrics"]["loss"], rel=1e-3)
    assert full["checkpoint"] == str(tmp_path / "full" / "final.safetensors")

    hist = [json.loads(line) for line in (tmp_path / "full" / "history.jsonl").open()]
    assert [h["epoch"] for h in hist] == [1, 2, 3, 4]
    assert hist[-1]["loss"] < hist[0]["loss"]
    # Without held-out identities the test split is monitoring only, and labelled so.
    assert "test_mAP" in hist[1] and "test_rank1" in hist[3] and "mAP" not in hist[1]
    assert hist[1]["ap_mode"] == "trapezoid"
    assert "monitoring only" in (tmp_path / "full" / "train.log").read_text()
    assert [h.get("averaged_epochs") for h in hist] == [None, None, 1, 2]

    meta = read_checkpoint_meta(tmp_path / "full" / "last.safetensors")
    assert meta["epoch"] == 4 and meta["num_classes"] == NUM_IDS
    assert meta["input_points"] == 256 and meta["train_data"] == str(market)
    assert meta["model"]["channels"] == TINY["channels"] and meta["selection"] == "last"
    final = read_checkpoint_meta(tmp_path / "full" / "final.safetensors")
    assert final["selection"] == "final" and final["weight_averaged"] is True
    assert final["averaged_epochs"] == 2 and final["average_from_epoch"] == 3
    # The average differs from the last epoch's weights, and its batch norm was re-estimated.
    a = load_state_dict(tmp_path / "full" / "final.safetensors")
    b = load_state_dict(tmp_path / "full" / "last.safetensors")
    bn = [k for k in a if k.endswith("running_mean")]
    assert bn and any(not torch.equal(a[k], b[k]) for k in bn)
    assert not list((tmp_path / "full").glob("best*"))   # nothing chosen on the test split

    # Index the gallery through the CLI, then search it with the query features.
    ckpt = tmp_path / "full" / "final.safetensors"
    assert cli_main(["index", "--checkpoint", str(ckpt), "--data", str(market),
                     "--out", str(tmp_path / "gallery"), "--device", "cpu",
                     "--workers", "0"]) == 0
    index = GalleryIndex.load(tmp_path / "gallery")
    assert len(index) == NUM_IDS * 2 * 3 + 1          # junk dropped, distractor kept
    assert index.meta["checkpoint"] == str(ckpt) and index.thumbnail(0).shape == (128, 64, 3)
    model = load_model(ckpt, device="cpu")
    assert not model.training and model.classifier is not None
    from ognet.data import PointCloudDataset, load_dataset

    data = load_dataset(market, splits=("query",))
    queries = PointCloudDataset(data.query, num_points=256)
    feats = model.extract(torch.stack([queries[i]["points"] for i in range(len(queries))]))
    res = index.search(feats, k=5)
    assert res.indices.shape == (len(queries), 5)
    assert np.all(np.diff(res.similarities, axis=1) <= 1e-6)
    np.testing.assert_array_equal(res.pids, index.pids[res.indices])
    # Distinctive shapes and colors: most queries find their identity first.
    top1 = (res.pids[:, 0] == queries.pids).mean()
    assert top1 >= 0.5, top1

    results = {}
    for mode, extra in (("trapezoid", []), ("step", ["--ap-mode", "step"]),
                        ("tta", ["--authors-tta"])):
        assert cli_main(["evaluate", "--checkpoint", str(ckpt), "--data", str(market),
                         "--device", "cpu", "--workers", "0", *extra,
                         "--json", str(tmp_path / f"{mode}.json")]) == 0
        results[mode] = json.loads((tmp_path / f"{mode}.json").read_text())
    ev = results["trapezoid"]
    assert ev["num_query"] == len(queries)
    assert ev["ap_mode"] == "trapezoid" and ev["scales"] == [1.0] and ev["selection"] == "final"
    assert results["step"]["ap_mode"] == "step"
    # both AP definitions, recomputed by test_metrics' brute-force loop from these features
    gallery = PointCloudDataset(load_dataset(market, splits=("gallery",)).gallery,
                                num_points=256)
    g_feats = model.extract(torch.stack([gallery[i]["points"] for i in range(len(gallery))]))
    distmat = (1 - feats @ g_feats.T).numpy()
    ids = (queries.pids, gallery.pids, queries.camids, gallery.camids)
    for mode in ("trapezoid", "step"):
        cmc, mAP = brute_force(distmat, *ids, trapezoid=mode == "trapezoid")
        assert results[mode]["mAP"] == pytest.approx(100 * mAP, abs=1e-3), mode
        np.testing.assert_allclose(results[mode]["cmc"], cmc, atol=1e-6)
    assert ev["mAP_by_mode"] == pytest.approx({"trapezoid": ev["mAP"],
                                               "step": results["step"]["mAP"]})
    assert results["tta"]["scales"] == [1.0, 1.1]


@pytest.mark.slow
def test_data_loading_workers_change_nothing(market, tmp_path):
    """The configs load data in 4 worker processes: with 2 workers a run sees the batches of a
    run in this process (per-item random draws, the loader's order), so the same losses, the
    same evaluation and the same weights, bit for bit; the evaluation's features too."""
    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine.evaluation import extract_features

    runs = {workers: train(tiny_config(market, tmp_path / f"w{workers}", epochs=2,
                                       eval_every=2, average_last=0.5, workers=workers),
                           progress=False)
            for workers in (0, 2)}
    here, there = runs[0]["history"], runs[2]["history"]
    assert [h["loss"] for h in here] == [h["loss"] for h in there]
    assert here[-1]["test_mAP"] == there[-1]["test_mAP"]
    a = load_state_dict(runs[0]["checkpoint"])
    b = load_state_dict(runs[2]["checkpoint"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

    model = load_model(runs[0]["checkpoint"], device="cpu")
    gallery = PointCloudDataset(load_dataset(market, splits=("gallery",)).gallery,
                                num_points=256)
    np.testing.assert_array_equal(
        extract_features(model, gallery, batch_size=5, workers=2, progress=False),
        extract_features(model, gallery, batch_size=5, workers=0, progress=False))


def test_authors_test_time_feature_sums_before_normalising():
    from ognet.engine.evaluation import AUTHORS_TEST_SCALES, embed

    torch.manual_seed(0)
    model = _tiny_model(num_classes=0).eval()
    x = torch.rand(3, 256, 6)
    scaled = x.clone()
    scaled[..., :3] *= 1.1
    with torch.no_grad():
        want = torch.nn.functional.normalize(model.forward_features(x)
                                             + model.forward_features(scaled), dim=-1)
        torch.testing.assert_close(embed(model, x, AUTHORS_TEST_SCALES), want)
        torch.testing.assert_close(embed(model, x), model.extract(x))
    assert torch.equal(x[..., 3:], scaled[..., 3:])   # colours are not scaled


def test_evaluation_never_reads_a_checkpoint_chosen_on_the_test_split(market, tmp_path, capsys):
    """Training writes no test-selected ``best``; ``evaluate`` refuses the ``best`` that
    earlier ognet chose by test mAP; model selection uses held-out training identities."""
    out = tmp_path / "val"
    result = train(tiny_config(market, out, epochs=3, eval_every=1, val_identities=1,
                               average_last=0.0), progress=False)
    assert not list(out.glob("best.*")) and (out / "best_val.safetensors").is_file()
    hist = [json.loads(line) for line in (out / "history.jsonl").open()]
    assert all("val_mAP" in h and not any(k.startswith("test") for k in h) for h in hist)
    best = read_checkpoint_meta(out / "best_val.json")
    assert best["selection"] == "best_val" and best["num_classes"] == NUM_IDS - 1
    assert best["metrics"]["val_mAP"] == max(h["val_mAP"] for h in hist)
    final = read_checkpoint_meta(result["checkpoint"])
    assert final["selection"] == "final" and final["weight_averaged"] is False
    # A `best` as ognet wrote it before (chosen by test mAP, no `selection` recorded).
    legacy = save_checkpoint(tmp_path / "old_run" / "best.safetensors", _tiny_model(NUM_IDS),
                             epoch=2, metrics={"mAP": 50.0})
    assert cli_main(["evaluate", "--checkpoint", str(legacy), "--data", str(market),
                     "--device", "cpu", "--workers", "0"]) == 2
    assert "chosen by its mAP on the test split" in capsys.readouterr().out
    with pytest.raises(CheckpointError, match="test split"):
        check_not_test_selected(legacy)
    assert check_not_test_selected(out / "best_val.safetensors")["selection"] == "best_val"


def test_train_cli_with_config_file_identity_sampler_circle_and_z_zero(market, tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: {market}\nmodel: ognet_small\nnum_points: 256\nk: 8\n"
                   f"epochs: 1\nbatch_size: 8\nworkers: 0\neval_every: 0\n"
                   f"model_overrides: {json.dumps(TINY)}\n")
    out = tmp_path / "run"
    assert cli_main(["train", "--config", str(cfg), "--out", str(out), "--device", "cpu",
                     "--sampler", "identity", "--num-instances", "2", "--loss", "ce+circle",
                     "--z-zero", "--quiet"]) == 0
    meta = read_checkpoint_meta(out / "last.json")
    assert meta["z_zero"] is True and meta["train_config"]["sampler"] == "identity"
    assert meta["train_config"]["loss"] == "ce+circle" and meta["epoch"] == 1


def test_fine_tune_from_a_checkpoint_keeps_its_backbone_with_a_new_classifier(market, tmp_path,
                                                                            capsys):
    """``train --init X``: every weight but the classifier comes from X, the classifier is
    new (this data's 3 identities, X had 4); another architecture or input is refused."""
    base = train(tiny_config(market, tmp_path / "base", epochs=1, eval_every=0,
                             average_last=0.0), progress=False)["checkpoint"]
    saved = load_state_dict(base)
    model = create_model("ognet_small", num_classes=3, num_points=256, **TINY)
    fresh = {k: v.clone() for k, v in model.state_dict().items()}
    meta = load_backbone(model, base)
    for key, value in model.state_dict().items():
        if key.startswith("classifier."):
            assert value.shape[0] == 3 and saved[key].shape[0] == NUM_IDS
            torch.testing.assert_close(value, fresh[key])
        else:
            torch.testing.assert_close(value, saved[key], msg=key)

    other = write_market_tree(tmp_path / "other", num_ids=3, seed=1)
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(f"data: {other}\nmodel: ognet_small\nnum_points: 256\nk: 8\nepochs: 1\n"
                   f"batch_size: 8\nworkers: 0\neval_every: 0\nlr: 0.0001\nwarmup_epochs: 0\n"
                   f"model_overrides: {json.dumps(TINY)}\n")
    run = ["train", "--config", str(cfg), "--device", "cpu", "--init", str(base), "--quiet"]
    assert cli_main([*run, "--out", str(tmp_path / "ft")]) == 0
    tuned = read_checkpoint_meta(tmp_path / "ft" / "final.json")
    assert tuned["num_classes"] == 3 and tuned["train_config"]["init"] == str(base)
    assert tuned["init_weights_sha256"] == meta["weights_sha256"]
    # One epoch at a small rate moves the backbone a little away from the checkpoint, far
    # less than a random initialisation is from it.
    weights = load_state_dict(tmp_path / "ft" / "final.safetensors")
    moved = [(weights[k] - saved[k]).abs().mean() for k in saved
             if k.endswith("weight") and not k.startswith("classifier.")]
    random_start = [(fresh[k] - saved[k]).abs().mean() for k in saved
                    if k.endswith("weight") and not k.startswith("classifier.")]
    assert 0 < sum(moved) < 0.2 * sum(random_start)

    capsys.readouterr()
    for flags, says in ((["--num-points", "128"], "num_points: checkpoint 256, this run 128"),
                        (["--set", "channels=[16,32,32,32]"], "channels: checkpoint"),
                        (["--z-zero"], "z_zero: checkpoint False, this run True")):
        assert cli_main([*run, "--out", str(tmp_path / "bad"), *flags]) == 2
        out = capsys.readouterr().out
        assert out.startswith("error:") and "--init needs the checkpoint's architecture" in out
        assert says in out and "Traceback" not in out


def _tiny_model(num_classes=3):
    return create_model("ognet_small", num_classes=num_classes, num_points=256, **TINY)


def test_safetensors_round_trip(tmp_path):
    torch.manual_seed(0)
    model = _tiny_model().eval()
    path = save_checkpoint(tmp_path / "m.safetensors", model, epoch=7, metrics={"mAP": 1.5})
    loaded = load_model(path, device="cpu")
    assert loaded.config == model.config and not loaded.training
    x = torch.rand(2, 256, 6)
    torch.testing.assert_close(loaded.extract(x), model.extract(x))
    assert read_checkpoint_meta(tmp_path / "m")["metrics"] == {"mAP": 1.5}
    assert load_model(tmp_path / "m.json", device="cpu", num_classes=0).classifier is None
    assert not list(tmp_path.glob(".*tmp"))          # no temporary files left behind


def test_checkpoint_errors_are_clear(tmp_path):
    model = _tiny_model()
    path = save_checkpoint(tmp_path / "m.safetensors", model)
    with pytest.raises(CheckpointError, match="not found"):
        load_model(tmp_path / "missing.safetensors")
    # Corrupted weights (truncated file).
    data = path.read_bytes()
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(data[: len(data) // 2])
    (tmp_path / "bad.json").write_text((tmp_path / "m.json").read_text())
    with pytest.raises(CheckpointError, match="do not match|corrupted"):
        load_model(bad)
    # A corrupted file whose JSON carries no checksum is still caught by safetensors.
    meta = json.loads((tmp_path / "m.json").read_text())
    del meta["weights_sha256"]
    (tmp_path / "bad.json").write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_model(bad)
    # Weights of another architecture under this config.
    other = save_checkpoint(tmp_path / "o.safetensors", _tiny_model(num_classes=5))
    meta = json.loads((tmp_path / "m.json").read_text())
    meta["weights_sha256"] = json.loads((tmp_path / "o.json").read_text())["weights_sha256"]
    (tmp_path / "mix.json").write_text(json.dumps(meta))
    (tmp_path / "mix.safetensors").write_bytes(other.read_bytes())
    with pytest.raises(CheckpointError, match="wrong shape"):
        load_model(tmp_path / "mix.safetensors")
    (tmp_path / "m.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        load_model(path)


CONFIGS = sorted((Path(__file__).resolve().parent.parent / "configs").glob("*.yaml"))


def test_configs_follow_the_authors_commands():
    by_name = {p.stem: TrainConfig.from_file(p) for p in CONFIGS}
    variants = {"ognet", "ognet_circle", "ognet_small", "ognet_small_circle", "ognet_deep_circle"}
    assert {f"{v}_market" for v in variants} | {"ognet_market_2d"} <= set(by_name)
    for name, cfg in by_name.items():
        assert cfg.weight_decay in (5e-4, 1e-3) and cfg.min_lr_ratio == 0.01
        assert cfg.scale == (0.75, 1.33) and cfg.jitter_clip == 0.01 and cfg.eval_every == 0
        assert cfg.model in name and ("circle" in name) == (cfg.loss == "ce+circle")
        if cfg.model == "ognet_deep":
            assert cfg.k == 9 and cfg.lr in (6e-4, 4e-4)
        else:
            assert cfg.k == 20
    m = by_name
    assert m["ognet_market"].epochs == 1500 and m["ognet_small_circle_market"].epochs == 1500
    assert m["ognet_small_market"].epochs == 1000 and m["ognet_deep_circle_market"].epochs == 1000
    assert m["ognet_market"].lr == 1e-3 and m["ognet_market"].average_last == 0.1
    assert m["ognet_market"].samples_per_class == 3 and m["ognet_market"].sampler == "balanced"
    deep = m["ognet_deep_circle_market"]
    assert deep.batch_size == 30 and deep.average_last == 0.0 and deep.circle_gamma == 64
    assert m["ognet_market_2d"].z_zero and not m["ognet_market"].z_zero
    with pytest.raises(ValueError, match="unknown TrainConfig fields: learning_rate"):
        TrainConfig.from_dict({"learning_rate": 1.0})


@pytest.fixture(scope="module")
def one_step_market(tmp_path_factory):
    """Two clouds per training identity: one batch of 8 is one step of every sampler."""
    return write_market_tree(tmp_path_factory.mktemp("one_step"), per_cam=1)


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_each_config_loads_and_trains_one_step(path, one_step_market, tmp_path):
    """Every shipped config, with its own variant (modules, k, EdgeConvs, residuals), loss,
    sampler and averaging, for one epoch of one step on 256-point clouds; the variant's
    stages are scaled by 1/16 and its widths by 1/4 so that this takes seconds."""
    base = TrainConfig.from_file(path)
    variant = create_model(base.model).config
    cfg = TrainConfig.from_file(
        path, data=str(one_step_market), out_dir=str(tmp_path / "run"), epochs=1,
        batch_size=8, num_points=256, warmup_epochs=0, workers=0, device="cpu",
        model_overrides={"stage_points": [p // 16 for p in variant.stage_points],
                         "channels": [c // 4 for c in variant.channels]})
    result = train(cfg, progress=False)
    assert len(result["history"]) == 1 and np.isfinite(result["metrics"]["loss"])
    meta = read_checkpoint_meta(result["checkpoint"])
    assert meta["selection"] == "final" and meta["model"]["name"] == base.model
    assert meta["model"]["k"] == base.k and meta["z_zero"] == base.z_zero
    assert meta["weight_averaged"] == (base.average_last > 0)
