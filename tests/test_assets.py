"""The demo model, gallery and example queries that ship in assets/ (built by
scripts/build_demo_assets.py)."""

import json

import numpy as np
import pytest
import torch

from ognet import load_model
from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR
from ognet.gallery import GalleryIndex
from ognet.metrics import rank_metrics


@pytest.fixture(scope="module")
def model():
    return load_model(DEFAULT_CHECKPOINT, device="cpu")


def test_checkpoint_is_small_and_describes_itself(model):
    assert DEFAULT_CHECKPOINT.stat().st_size < 10 * 2**20
    meta = json.loads(DEFAULT_CHECKPOINT.with_suffix(".json").read_text())
    assert meta["model"]["name"] == "ognet_small"
    assert not model.training


def test_recorded_rank1_is_reproduced_on_the_cached_subset(model):
    """The shipped checkpoint gets, on a cached subset of the test split, the Rank-1 and mAP
    recorded when it was built (within one point)."""
    data = np.load(DEFAULT_CHECKPOINT.parent / "eval_subset.npz")
    points = torch.from_numpy(data["points"].astype(np.float32))
    feats = torch.cat([model.extract(points[i:i + 32]) for i in range(0, len(points), 32)])
    feats = feats.numpy()
    q = data["is_query"]
    cmc, mAP = rank_metrics(1 - feats[q] @ feats[~q].T, data["pids"][q], data["pids"][~q],
                            data["camids"][q], data["camids"][~q])
    assert abs(cmc[0] - float(data["rank1"])) <= 0.01
    assert abs(mAP - float(data["mAP"])) <= 0.01
    # A model that learned nothing ranks like a random ranking: its Rank-1 must beat the 99th
    # percentile of 1000 random rankings of the same queries and gallery (a permutation test).
    rng = np.random.default_rng(0)
    random_rank1 = [rank_metrics(rng.random((q.sum(), (~q).sum())), data["pids"][q],
                                 data["pids"][~q], data["camids"][q], data["camids"][~q])[0][0]
                    for _ in range(1000)]
    assert cmc[0] > np.percentile(random_rank1, 99)


def test_gallery_and_examples_belong_together(model):
    gallery = GalleryIndex.load(DEFAULT_GALLERY)
    assert len(gallery) > 50 and gallery.dim == 512
    assert gallery.thumbnail(0).shape[:2] == (128, 64)
    examples = sorted(EXAMPLES_DIR.glob("*.jpg"))
    assert len(examples) >= 4
    gallery_pids = set(gallery.pids.tolist())
    assert all(int(p.name.split("_")[0]) in gallery_pids for p in examples)
