"""A tiny synthetic dataset goes the whole way: render -> lift (prepare) -> train -> evaluate
-> index -> search, with the real commands."""

import json

import numpy as np
import torch

from ognet import load_model
from ognet.cli import main as ognet_main
from ognet.gallery import GalleryIndex
from ognet.pointcloud import load_cloud, sample_points


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
    assert 0.0 <= result["mAP"] <= 100.0 and len(result["cmc"]) > 0  # percentages
    assert result["selection"] == "final" and result["ap_mode"] == "trapezoid"
    assert ognet_main(["index", "--checkpoint", str(run / "final.safetensors"),
                       "--data", str(clouds), "--out", str(tmp_path / "gallery")]) == 0

    gallery = GalleryIndex.load(tmp_path / "gallery")
    model = load_model(run / "final.safetensors", device="cpu")
    query = sorted((clouds / "query").glob("*.npz"))[0]
    points = sample_points(load_cloud(query)["points"], model.config.num_points,
                           mode="stride")
    hits = gallery.search(model.extract(torch.from_numpy(points)[None])[0], k=3)
    assert len(hits.indices) == 3
    assert np.all(np.diff(hits.similarities) <= 1e-6)
