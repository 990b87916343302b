"""GalleryIndex: exact search against numpy, float16 storage, save/load round trip, errors;
the FAISS backend (exact Flat, approximate IVF recall, storage, fallback without FAISS)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from ognet.faiss_search import FaissMissing
from ognet.gallery import FaissFallbackWarning, GalleryError, GalleryIndex, encode_thumbnail


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


# ---------------------------------------------------------------- FAISS backend
def clustered(n=4000, d=32, ids=200, seed=0, ids_only=False):
    """Unit features in ``ids`` identity clusters (as re-id features are), and queries; or
    the identity of each feature."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(ids, d))
    identity = rng.integers(0, ids, n)
    if ids_only:
        return identity
    f = centres[identity] + 0.5 * rng.normal(size=(n, d))
    q = centres[rng.integers(0, ids, 50)] + 0.5 * rng.normal(size=(50, d))
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    return f.astype(np.float32), q.astype(np.float32)


def test_faiss_flat_returns_the_exact_top_k():
    index = random_index()
    q = np.random.default_rng(1).normal(size=(7, 32)).astype(np.float32)
    exact = index.search(q, k=5)
    flat = random_index().set_backend("faiss", "Flat")
    assert flat.backend == "faiss" and flat.faiss_index == "Flat"
    res = flat.search(q, k=5)
    np.testing.assert_array_equal(res.indices, exact.indices)
    np.testing.assert_allclose(res.similarities, exact.similarities, atol=1e-5)
    np.testing.assert_array_equal(res.pids, exact.pids)
    one = flat.search(torch.from_numpy(q[0]), k=3)
    np.testing.assert_array_equal(one.indices, exact.indices[0, :3])
    assert flat.search(q, k=10_000).indices.shape == (7, 500)


def test_faiss_approximate_indexes_recall():
    f, q = clustered()
    exact = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).search(q, k=5).indices
    # IVF scanning every cell is exhaustive: exactly the same top-5
    ivf = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                       faiss_index="IVF16,Flat", faiss_params="nprobe=16")
    np.testing.assert_array_equal(ivf.search(q, k=5).indices, exact)
    # compressed (4 bytes instead of 64 per vector; small codes keep training short), a
    # quarter of the cells scanned
    pq = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                      faiss_index="IVF16,PQ8x4np", faiss_params="nprobe=4", train_size=3000)
    found = pq.search(q, k=5).indices
    recall = np.mean([len(set(a) & set(b)) / 5 for a, b in zip(found, exact, strict=True)])
    assert 0.2 < recall < 1.0, recall          # approximate: not the same five items...
    ids = clustered(ids_only=True)             # ...but the same identities on top
    same_identity = ids[found[:, 0]] == ids[exact[:, 0]]
    assert same_identity.mean() >= 0.9, same_identity.mean()
    # re-ranking its best 50 by the exact cosine on the stored features: the exact top-5
    # (wherever they are among the 50) in the exact order and with the exact similarities
    pq.set_backend("faiss", "IVF16,PQ8x4np", "nprobe=4", rerank=50, _faiss=pq._faiss)
    reranked = pq.search(q, k=5)
    recall_rr = np.mean([len(set(a) & set(b)) / 5
                         for a, b in zip(reranked.indices, exact, strict=True)])
    assert recall_rr > max(0.9, recall), (recall_rr, recall)
    hit = (reranked.indices == exact).all(1)
    np.testing.assert_allclose(reranked.similarities[hit],
                               GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).search(
                                   q[hit], k=5).similarities, atol=1e-5)


def test_faiss_too_few_candidates_are_marked():
    f, q = clustered(n=300)
    index = GalleryIndex(f, np.arange(300), np.zeros(300), backend="faiss",
                         faiss_index="IVF16,Flat", faiss_params="nprobe=1")
    res = index.search(q, k=100)              # one cell of ~19 items cannot give 100
    missing = res.indices < 0
    assert missing.any() and (~missing).any()
    assert (res.pids[missing] == -1).all() and np.isneginf(res.similarities[missing]).all()
    assert (res.pids[~missing] == res.indices[~missing]).all()


def test_faiss_save_load_and_exact_fallback_without_faiss(tmp_path, monkeypatch):
    f, q = clustered()
    index = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                         faiss_index="IVF16,PQ8x4np", faiss_params="nprobe=4", train_size=3000,
                         rerank=20)
    before = index.search(q, k=5)
    index.save(tmp_path / "g")
    loaded = GalleryIndex.load(tmp_path / "g")     # the trained index itself is stored
    assert (loaded.backend, loaded.faiss_index, loaded.faiss_params, loaded.rerank) == \
        ("faiss", "IVF16,PQ8x4np", "nprobe=4", 20)
    after = loaded.search(q, k=5)
    np.testing.assert_array_equal(after.indices, before.indices)
    np.testing.assert_array_equal(after.similarities, before.similarities)

    monkeypatch.setitem(__import__("sys").modules, "faiss", None)   # `import faiss` fails
    with pytest.warns(FaissFallbackWarning, match="IVF16,PQ8x4np.*searching exactly"):
        fallback = GalleryIndex.load(tmp_path / "g")
    assert fallback.backend == "exact"
    exact = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).search(q, k=5)
    np.testing.assert_array_equal(fallback.search(q, k=5).indices, exact.indices)
    with pytest.raises(FaissMissing, match="pip install faiss-cpu"):
        random_index().set_backend("faiss")


def test_faiss_bad_arguments():
    with pytest.raises(ValueError, match="backend must be"):
        random_index().set_backend("annoy")
    with pytest.raises(ValueError, match="rerank must be"):
        random_index().set_backend("faiss", rerank=-1)
    with pytest.raises(ValueError, match="cannot build the index 'IVF16,Bogus7'"):
        random_index().set_backend("faiss", "IVF16,Bogus7")


def test_index_command_reindexes_with_faiss(tmp_path, capsys):
    from ognet.cli import main

    f, q = clustered()
    GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).save(tmp_path / "exact")
    assert main(["index", "--reindex", str(tmp_path / "exact"), "--out", str(tmp_path / "ivf"),
                 "--backend", "faiss", "--faiss-index", "IVF16,Flat",
                 "--faiss-params", "nprobe=16"]) == 0
    assert "FAISS IVF16,Flat, nprobe=16" in capsys.readouterr().out
    ivf = GalleryIndex.load(tmp_path / "ivf")
    assert ivf.backend == "faiss" and len(ivf) == len(f)
    np.testing.assert_array_equal(ivf.search(q, k=5).indices,
                                  GalleryIndex.load(tmp_path / "exact").search(q, k=5).indices)
    assert main(["index", "--reindex", str(tmp_path / "exact"), "--out", str(tmp_path / "sq"),
                 "--backend", "faiss", "--faiss-index", "approximate"]) == 0
    assert "FAISS IVF64,SQ8, nprobe=256, re-ranking the best 100" in capsys.readouterr().out
    assert GalleryIndex.load(tmp_path / "sq").faiss_index == "IVF64,SQ8"
    assert main(["index", "--reindex", str(tmp_path / "exact"), "--out", str(tmp_path / "x"),
                 "--backend", "faiss", "--faiss-index", "Nonsense"]) == 2
    assert "error: FAISS cannot build" in capsys.readouterr().out
    assert main(["index", "--out", str(tmp_path / "x")]) == 2
    assert "--checkpoint and --data" in capsys.readouterr().out


def test_faiss_params_apply_to_an_index_already_built():
    f, q = clustered()
    exact = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).search(q, k=5).indices
    ivf = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                       faiss_index="IVF16,Flat", faiss_params="nprobe=1")
    assert ivf._faiss.nprobe == 1
    ivf.set_backend("faiss", "IVF16,Flat", "nprobe=16", _faiss=ivf._faiss)   # every cell
    assert ivf._faiss.nprobe == 16 and ivf.faiss_params == "nprobe=16"
    np.testing.assert_array_equal(ivf.search(q, k=5).indices, exact)


def test_approximate_spec_follows_the_gallery_size():
    from ognet.faiss_search import approximate_spec

    assert approximate_spec(100_000) == "IVF1024,SQ8"       # 4 sqrt(n) cells
    assert approximate_spec(1_000_000) == "IVF4096,SQ8"
    assert approximate_spec(10_000_000) == "IVF4096,SQ8"    # at most 4096
    assert approximate_spec(4000) == "IVF64,SQ8"            # 39 training rows per cell or more
    assert approximate_spec(500) == "IVF8,SQ8" and approximate_spec(1) == "IVF1,SQ8"
    with pytest.raises(ValueError, match="at least one item"):
        approximate_spec(0)


def test_faiss_approximate_preset(tmp_path):
    from ognet import faiss_search

    f, q = clustered()
    exact = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f))).search(q, k=5)
    index = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                         faiss_index="approximate")
    assert (index.faiss_index, index.faiss_params, index.rerank) == \
        ("IVF64,SQ8", faiss_search.APPROXIMATE_PARAMS, faiss_search.APPROXIMATE_RERANK)
    assert index._faiss.code_size == 32                   # one byte per value
    res = index.search(q, k=5)
    recall = np.mean([len(set(a) & set(b)) / 5
                      for a, b in zip(res.indices, exact.indices, strict=True)])
    assert recall >= 0.95, recall
    ids = clustered(ids_only=True)
    assert (ids[res.indices[:, 0]] == ids[exact.indices[:, 0]]).mean() >= 0.95
    # explicit values win over the preset's
    own = GalleryIndex(f, np.arange(len(f)), np.zeros(len(f)), backend="faiss",
                       faiss_index="approximate", faiss_params="nprobe=2", rerank=0)
    assert (own.faiss_index, own.faiss_params, own.rerank) == ("IVF64,SQ8", "nprobe=2", 0)
    # saved with the resolved spec, searched the same after loading
    index.save(tmp_path / "g")
    loaded = GalleryIndex.load(tmp_path / "g")
    assert (loaded.faiss_index, loaded.faiss_params, loaded.rerank) == \
        (index.faiss_index, index.faiss_params, index.rerank)
    np.testing.assert_array_equal(loaded.search(q, k=5).indices, res.indices)


# ---------------------------------------------------------------------------- calibration
def calibration_gallery(seed=0):
    """20 identities x 4 items over 3 cameras (unit features around identity centres), a
    near-duplicate of each identity's first item in the same camera (as consecutive frames
    are), and 6 distractors (pid 0)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, 16))
    pids = np.repeat(np.arange(1, 21), 4)
    cams = np.tile([0, 1, 2, 1], 20)
    f = centres[pids - 1] + 0.8 * rng.normal(size=(80, 16))
    dup = f[::4] + 0.01 * rng.normal(size=(20, 16))
    f = np.concatenate([f, dup, rng.normal(size=(6, 16))])
    pids = np.concatenate([pids, np.arange(1, 21), np.zeros(6, int)])
    cams = np.concatenate([cams, np.zeros(20, int), np.arange(6) % 3])
    return f / np.linalg.norm(f, axis=1, keepdims=True), pids, cams


def brute_force_best(f, pids, cams):
    """Each item's best cosine to its identity in another camera and to another identity
    (pid 0: another identity for everyone), by a loop over all pairs."""
    same, different = [], []
    for i in range(len(f)):
        s = d = -np.inf
        for j in range(len(f)):
            if j == i:
                continue
            sim = float(f[i] @ f[j])
            if pids[i] > 0 and pids[j] == pids[i]:
                if cams[j] != cams[i]:
                    s = max(s, sim)
            else:
                d = max(d, sim)
        same.append(s)
        different.append(d)
    return np.array(same), np.array(different)


@pytest.mark.parametrize("rate", [0.01, 0.1])
def test_calibration_against_a_count_of_every_pair(rate):
    from ognet.gallery import calibrate

    f, pids, cams = calibration_gallery()
    index = GalleryIndex(f, pids, cams)
    stored = index.features.double().numpy()             # what the search compares
    same, different = brute_force_best(stored, pids, cams)
    c = calibrate(index.features, pids, cams, false_match_rate=rate)
    t = c["threshold"]
    allowed = int(rate * len(different))                  # strangers allowed above t
    assert (different > t + 1e-6).sum() <= allowed < (different >= t - 1e-6).sum()
    found = same[np.isfinite(same)]
    assert c["same_identity"] == len(found) == 80 + 20    # the 6 distractors have none
    assert c["true_match_rate"] == pytest.approx((found > t).mean(), abs=1e-6)
    assert c["queries"] == len(f) == sum(c["different"])
    assert sum(c["same"]) == len(found)
    edges = np.array(c["edges"])
    np.testing.assert_array_equal(np.histogram(different, edges)[0], c["different"])
    np.testing.assert_array_equal(np.histogram(found, edges)[0], c["same"])


def test_calibration_samples_a_large_gallery_and_refuses_one_identity():
    from ognet.gallery import calibrate

    f, pids, cams = calibration_gallery()
    c = calibrate(f, pids, cams, max_queries=50)
    assert c["queries"] == 50 == sum(c["different"])
    assert c == calibrate(f, pids, cams, max_queries=50)  # seeded
    with pytest.raises(ValueError, match="one identity"):
        calibrate(f[:4], pids[:4], cams[:4])
    with pytest.raises(ValueError, match="false_match_rate"):
        calibrate(f, pids, cams, false_match_rate=0)
    assert GalleryIndex(f[:4], pids[:4], cams[:4]).calibration is None


def _rewrite_meta(file, **changes):
    """Rewrite a saved index with its header's meta changed (None: the key dropped), as an
    older ognet would have written it."""
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(file), framework="numpy") as fh:
        header = json.loads(fh.metadata()["ognet_gallery"])
        arrays = {k: fh.get_tensor(k) for k in fh.keys()}  # noqa: SIM118
    for key, value in changes.items():
        if value is None:
            header["meta"].pop(key, None)
        else:
            header["meta"][key] = value
    save_file(arrays, str(file), metadata={"ognet_gallery": json.dumps(header)})


def test_an_old_file_is_calibrated_at_load_and_a_reindex_stores_it(tmp_path, capsys):
    from ognet.cli import main
    from ognet.gallery import calibrate

    f, pids, cams = calibration_gallery()
    file = GalleryIndex(f, pids, cams).save(tmp_path / "g")
    _rewrite_meta(file, calibration=None)                # a file from before calibration
    old = GalleryIndex.load(file)
    assert "calibration" not in old.meta and old.lifting == "mean_body"
    expected = calibrate(old.features, pids, cams)
    assert old.calibration == {**expected, "at": "load"}
    assert old.threshold == expected["threshold"]
    assert main(["index", "--reindex", str(file), "--out", str(tmp_path / "r"),
                 "--false-match-rate", "0.1", "--people", "synthetic"]) == 0
    assert "confident above" in capsys.readouterr().out
    again = GalleryIndex.load(tmp_path / "r")
    assert again.meta["calibration"] == {**calibrate(old.features, pids, cams, 0.1),
                                         "at": "index"}
    assert again.meta["people"] == "synthetic"
    assert again.threshold < old.threshold               # 10% false matches: a lower bar


def test_the_index_command_records_lifting_and_calibration(tmp_path):
    """``index`` on a prepared tree stores the lifting (the report's, else mean_body) and the
    calibration made at index time from the features it extracted."""
    from ognet import create_model
    from ognet.cli import main
    from ognet.engine.checkpoint import save_checkpoint
    from ognet.gallery import calibrate
    from ognet.pointcloud import save_cloud

    rng = np.random.default_rng(0)
    folder = tmp_path / "clouds" / "bounding_box_test"
    for pid in (1, 2, 3):
        for cam in (1, 2):
            save_cloud(folder / f"{pid:04d}_c{cam}s1_000001_00.npz",
                       rng.normal(size=(1024, 6)).astype(np.float32))
    torch.manual_seed(0)
    ckpt = save_checkpoint(tmp_path / "m.safetensors", create_model(
        "ognet_small", num_points=512, stage_points=(128, 64, 32, 16)).eval())
    args = ["index", "--checkpoint", str(ckpt), "--data", str(tmp_path / "clouds"),
            "--workers", "0", "--device", "cpu", "--no-thumbnails"]
    assert main([*args, "--out", str(tmp_path / "g")]) == 0
    index = GalleryIndex.load(tmp_path / "g")
    assert index.lifting == "mean_body" and index.meta["calibration"]["at"] == "index"
    assert index.meta["calibration"] == {**calibrate(index.features, index.pids,
                                                     index.camids), "at": "index"}
    (tmp_path / "clouds" / "prepare_report.json").write_text('{"lifting": "photo_depth"}')
    assert main([*args, "--out", str(tmp_path / "h")]) == 2  # a lifting ognet does not have
    assert main([*args, "--out", str(tmp_path / "h"), "--lifting", "mean_body"]) == 0
