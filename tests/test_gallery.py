"""GalleryIndex: exact search against numpy, float16 storage, save/load round trip, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ognet.gallery import GalleryError, GalleryIndex, encode_thumbnail


def random_index(n=500, d=32, seed=0, thumbs=False):
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(n, d)).astype(np.float32)
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    t = [encode_thumbnail(rng.integers(0, 255, (256, 128, 3), dtype=np.uint8))
         if thumbs and i % 2 == 0 else b"" for i in range(n)]
    return GalleryIndex(f, rng.integers(0, 50, n), rng.integers(0, 6, n),
                        [f"img/{i}.jpg" for i in range(n)], [f"c/{i}.npz" for i in range(n)],
                        t, meta={"checkpoint": "x.safetensors"})


def test_search_is_exact_cosine_top_k():
    index = random_index()
    stored = index.features.float().numpy()
    rng = np.random.default_rng(1)
    q = rng.normal(size=(7, 32)).astype(np.float32)
    res = index.search(q, k=5, chunk_size=64)              # several chunks merged
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    sims = qn @ stored.T
    ref = np.argsort(-sims, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(res.indices, ref)
    np.testing.assert_allclose(res.similarities, np.take_along_axis(sims, ref, 1), atol=1e-5)
    np.testing.assert_array_equal(res.pids, index.pids[ref])
    one = index.search(torch.from_numpy(q[0]), k=3)          # (D,) query, torch input
    assert one.indices.shape == (3,)
    np.testing.assert_array_equal(one.indices, ref[0, :3])
    assert index.search(q, k=10_000).indices.shape == (7, 500)
    with pytest.raises(ValueError, match="query must be"):
        index.search(np.zeros((2, 31)))


def test_a_stored_item_finds_itself():
    index = random_index()
    res = index.search(index.features[:20].float(), k=1)
    np.testing.assert_array_equal(res.indices[:, 0], np.arange(20))
    np.testing.assert_allclose(res.similarities[:, 0], 1, atol=1e-3)


@pytest.mark.parametrize("as_file", [False, True])
def test_save_load_round_trip(tmp_path, as_file):
    index = random_index(thumbs=True)
    target = tmp_path / ("g.safetensors" if as_file else "gallery")
    path = index.save(target)
    assert path.is_file() and not list(path.parent.glob(".*tmp"))
    loaded = GalleryIndex.load(target)
    assert loaded.features.dtype == torch.float16
    torch.testing.assert_close(loaded.features, index.features)
    np.testing.assert_array_equal(loaded.pids, index.pids)
    np.testing.assert_array_equal(loaded.camids, index.camids)
    assert loaded.image_paths == index.image_paths and loaded.cloud_paths == index.cloud_paths
    assert loaded.thumbnails == index.thumbnails and loaded.meta == index.meta
    assert loaded.thumbnail(0).shape == (128, 64, 3) and loaded.thumbnail(1) is None
    # float16 on disk: 2 bytes per value, plus small JPEGs.
    assert path.stat().st_size < 500 * 32 * 2 + sum(map(len, index.thumbnails)) + 200_000


def test_load_errors(tmp_path):
    with pytest.raises(GalleryError, match="not found"):
        GalleryIndex.load(tmp_path / "none")
    path = random_index().save(tmp_path / "g")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(GalleryError, match="corrupted"):
        GalleryIndex.load(tmp_path / "g")
    # A future format version is refused with its number.
    from safetensors.numpy import save_file

    header = {"format": "ognet-gallery", "version": 99}
    save_file({"features": np.zeros((1, 4), np.float16)}, str(tmp_path / "v.safetensors"),
              metadata={"ognet_gallery": json.dumps(header)})
    with pytest.raises(GalleryError, match="version 99"):
        GalleryIndex.load(tmp_path / "v.safetensors")


def test_mismatched_lengths_are_rejected():
    with pytest.raises(ValueError, match="pids"):
        GalleryIndex(np.zeros((3, 4)), [1, 2], [0, 0, 0])
