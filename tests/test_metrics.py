"""``rank_metrics`` against a brute-force loop written from the protocol's definition."""

from __future__ import annotations

import numpy as np
import pytest

from ognet.metrics import cosine_distance, rank_metrics, summarize


def brute_force(distmat, q_pids, g_pids, q_camids, g_camids, max_rank=50, trapezoid=False):
    """The Market-1501 protocol, one query and one gallery item at a time."""
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    cmc_total = [0.0] * max_rank
    aps = []
    for i in range(num_q):
        # Rank the gallery by distance; equal distances keep gallery order.
        ranked = sorted(range(num_g), key=lambda j: (distmat[i, j], j))
        kept = [j for j in ranked
                if g_pids[j] != -1 and not (g_pids[j] == q_pids[i] and g_camids[j] == q_camids[i])]
        good = [r for r, j in enumerate(kept) if g_pids[j] == q_pids[i]]
        if not good:
            continue
        for r in range(max_rank):
            if good[0] <= r:
                cmc_total[r] += 1
        ap = 0.0
        for n, r in enumerate(good, start=1):
            precision = n / (r + 1)
            if trapezoid:
                old = (n - 1) / r if r > 0 else 1.0
                precision = (precision + old) / 2
            ap += precision / len(good)
        aps.append(ap)
    return np.array(cmc_total) / len(aps), float(np.mean(aps))


def random_case(rng, num_q, num_g, num_ids, num_cams, quantize=None):
    q_pids = rng.integers(0, num_ids, num_q)
    g_pids = rng.integers(-1, num_ids, num_g)           # includes junk (-1) and id 0
    q_cams = rng.integers(0, num_cams, num_q)
    g_cams = rng.integers(0, num_cams, num_g)
    dist = rng.random((num_q, num_g))
    if quantize:                                          # many exact ties
        dist = np.round(dist * quantize) / quantize
    return dist, q_pids, g_pids, q_cams, g_cams


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("trapezoid", [False, True])
def test_matches_brute_force_on_random_inputs(seed, trapezoid):
    rng = np.random.default_rng(seed)
    case = random_case(rng, num_q=30, num_g=80, num_ids=8, num_cams=3,
                       quantize=5 if seed % 2 else None)
    mode = "trapezoid" if trapezoid else "step"
    cmc, mAP = rank_metrics(*case, max_rank=20, ap_mode=mode, chunk_size=7)
    ref_cmc, ref_map = brute_force(*case, max_rank=20, trapezoid=trapezoid)
    np.testing.assert_allclose(cmc, ref_cmc, atol=1e-6)
    assert mAP == pytest.approx(ref_map, abs=1e-6)


def test_same_camera_and_junk_are_ignored():
    # Query pid 1 in camera 0. Gallery: same pid same camera (ignored), junk (ignored),
    # a wrong id, then the true match in another camera.
    dist = np.array([[0.0, 0.1, 0.2, 0.3]])
    g_pids = np.array([1, -1, 2, 1])
    g_cams = np.array([0, 1, 1, 1])
    cmc, mAP = rank_metrics(dist, np.array([1]), g_pids, np.array([0]), g_cams, max_rank=4,
                            ap_mode="step")
    np.testing.assert_allclose(cmc, [0, 1, 1, 1])        # rank 2 among the kept items
    assert mAP == pytest.approx(0.5)
    # From camera 1 instead, item 0 is a valid match (rank 1) and item 3 is ignored.
    cmc, mAP = rank_metrics(dist, np.array([1]), g_pids, np.array([1]), g_cams, max_rank=4)
    np.testing.assert_allclose(cmc, [1, 1, 1, 1])
    assert mAP == pytest.approx(1.0)


def test_queries_without_valid_match_are_skipped():
    dist = np.array([[0.1, 0.2], [0.3, 0.1]])
    # Query 0's only match is in its own camera -> skipped; query 1 matches at rank 1.
    cmc, mAP = rank_metrics(dist, np.array([5, 6]), np.array([5, 6]), np.array([0, 0]),
                            np.array([0, 1]))
    assert len(cmc) == 2 and cmc[0] == 1 and mAP == 1
    with pytest.raises(ValueError, match="no query"):
        rank_metrics(dist[:1], np.array([5]), np.array([5, 6]), np.array([0]), np.array([0, 1]))


def test_ties_are_broken_by_gallery_order():
    dist = np.zeros((1, 3))
    cmc, mAP = rank_metrics(dist, np.array([1]), np.array([2, 1, 1]), np.array([0]),
                            np.array([1, 1, 1]), max_rank=3, ap_mode="step")
    np.testing.assert_allclose(cmc, [0, 1, 1])
    assert mAP == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.parametrize(("hit_ranks", "num_gallery", "step", "trapezoid"), [
    # One true match at rank 1: both definitions give 1.
    ([1], 4, 1.0, 1.0),
    # One true match at rank 2: step 1/2; trapezoid (1/2 + 0/1) / 2 = 1/4.
    ([2], 4, 1 / 2, 1 / 4),
    # Ranks 2 and 3: step (1/2 + 2/3) / 2; trapezoid ((1/2 + 0)/2 + (2/3 + 1/2)/2) / 2 = 5/12.
    ([2, 3], 5, (1 / 2 + 2 / 3) / 2, 5 / 12),
    # Ranks 1 and 4: step (1 + 2/4) / 2 = 3/4; trapezoid ((1 + 1)/2 + (2/4 + 1/3)/2) / 2.
    ([1, 4], 6, 3 / 4, (1 + (2 / 4 + 1 / 3) / 2) / 2),
])
def test_ap_modes_against_hand_computed_values(hit_ranks, num_gallery, step, trapezoid):
    """AP of one query whose true matches sit at ``hit_ranks`` (1-based), by hand."""
    dist = np.arange(num_gallery, dtype=np.float64)[None]            # gallery in rank order
    g_pids = np.array([1 if r + 1 in hit_ranks else 2 for r in range(num_gallery)])
    args = (dist, np.array([1]), g_pids, np.array([0]), np.ones(num_gallery, dtype=int))
    assert rank_metrics(*args, ap_mode="step")[1] == pytest.approx(step)
    assert rank_metrics(*args, ap_mode="trapezoid")[1] == pytest.approx(trapezoid)
    assert rank_metrics(*args)[1] == pytest.approx(trapezoid)        # the default
    with pytest.raises(ValueError, match="ap_mode"):
        rank_metrics(*args, ap_mode="standard")


def test_shape_errors_and_summary():
    with pytest.raises(ValueError, match="queries"):
        rank_metrics(np.zeros((2, 3)), np.zeros(3), np.zeros(3), np.zeros(2), np.zeros(3))
    s = summarize(np.array([0.5, 0.75] + [1.0] * 8), 0.4)
    assert s == {"rank1": 50.0, "rank5": 100.0, "rank10": 100.0, "mAP": 40.0}


def test_cosine_distance_of_normalised_features():
    rng = np.random.default_rng(0)
    q = rng.normal(size=(4, 16))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    d = cosine_distance(q, q)
    np.testing.assert_allclose(np.diag(d), 0, atol=1e-6)
    assert d.dtype == np.float32 and d.shape == (4, 4) and (d >= -1e-6).all()
