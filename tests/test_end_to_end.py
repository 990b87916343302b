"""A tiny synthetic dataset goes the whole way: render -> lift (prepare) -> train -> evaluate
-> index -> search, with the real commands."""

import json

import numpy as np
import pytest
import torch
from test_metrics import brute_force

from ognet import load_model
from ognet.cli import main as ognet_main
from ognet.data import parse_name
from ognet.gallery import GalleryIndex
from ognet.pointcloud import load_cloud, sample_points

pytestmark = pytest.mark.slow  # trains a model


def test_synthetic_dataset_trains_and_evaluates(tmp_path):
    images, clouds, run = tmp_path / "images", tmp_path / "clouds", tmp_path / "run"
    assert ognet_main(["synth", "--out", str(images), "--identities", "6", "--seed", "3",
                       "--images-per-camera", "2", "--cameras-per-identity", "2"]) == 0
    assert ognet_main(["prepare", "--src", str(images), "--dst", str(clouds),
                       "--workers", "0"]) == 0
    n_images = len(list(images.glob("*/*.jpg")))
    assert len(list(clouds.glob("*/*.npz"))) == n_images
    small = ["--model", "ognet_small", "--num-points", "512",
             "--set", "stage_points=[128,64,32,16]", "--set", "channels=[16,32,64,128]"]
    assert ognet_main(["train", "--data", str(clouds), "--out", str(run), *small,
                       "--epochs", "2", "--batch-size", "8", "--warmup-epochs", "1",
                       "--workers", "0", "--eval-every", "2", "--quiet"]) == 0
    assert ognet_main(["evaluate", "--checkpoint", str(run / "final.safetensors"),
                       "--data", str(clouds), "--json", str(tmp_path / "eval.json")]) == 0
    result = json.loads((tmp_path / "eval.json").read_text())
    assert result["selection"] == "final" and result["ap_mode"] == "trapezoid"
    # the numbers are the protocol's, recomputed here from the checkpoint's own features of
    # the prepared clouds (strided to its input) by test_metrics' brute-force loop
    model = load_model(run / "final.safetensors", device="cpu")
    split = {name: sorted((clouds / name).glob("*.npz"))
             for name in ("query", "bounding_box_test")}
    feats = {name: embed(model, paths) for name, paths in split.items()}
    ids = {name: np.array([parse_name(p.stem, "market1501") for p in paths])  # (pid, camid)
           for name, paths in split.items()}
    q, g = ids["query"], ids["bounding_box_test"]
    cmc, mAP = brute_force(1 - feats["query"] @ feats["bounding_box_test"].T, q[:, 0], g[:, 0],
                           q[:, 1], g[:, 1], trapezoid=True)
    assert result["mAP"] == pytest.approx(100 * mAP, abs=1e-3)
    np.testing.assert_allclose(result["cmc"], cmc, atol=1e-6)
    assert ognet_main(["index", "--checkpoint", str(run / "final.safetensors"),
                       "--data", str(clouds), "--out", str(tmp_path / "gallery")]) == 0

    # the index holds the gallery's features (float16); a search is the top 3 of them (up to
    # that rounding), best first
    gallery = GalleryIndex.load(tmp_path / "gallery")
    np.testing.assert_allclose(gallery.features.float().numpy(), feats["bounding_box_test"],
                               atol=2e-3)
    np.testing.assert_array_equal(gallery.pids, g[:, 0])
    hits = gallery.search(torch.from_numpy(feats["query"][0]), k=3)
    sims = feats["bounding_box_test"] @ feats["query"][0]
    np.testing.assert_allclose(hits.similarities, sims[hits.indices], atol=2e-3)
    assert sims[hits.indices].min() >= np.sort(sims)[-3] - 4e-3
    assert np.all(np.diff(hits.similarities) <= 0)


def embed(model, paths) -> np.ndarray:
    """(len(paths), D) ``model.extract`` of prepared clouds, strided to the model's input."""
    points = np.stack([sample_points(load_cloud(p)["points"], model.config.num_points,
                                     mode="stride") for p in paths])
    return model.extract(torch.from_numpy(points)).numpy()
