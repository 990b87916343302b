"""Retrieval metrics under the Market-1501 protocol, as pure numpy functions.

For each query the gallery is ranked by distance (ties broken by gallery order: a stable
sort). Gallery items with the query's pid *and* camera are removed (the same shot of the
person), and so are junk items (pid ``-1``). Queries left without any true match are skipped.
CMC is the fraction of queries whose first true match is within the top ``k``.

AP, two definitions (every reported figure says which):

- ``trapezoid`` (default): Market-1501's evaluation code (the official MATLAB code and the
  authors' ``evaluate_gpu.py``): over the true matches at 1-based ranks ``r_1 < r_2 < ...``
  of the ``n`` true matches, ``AP = (1/n) * sum_i (p_i + p_{i-1}') / 2`` with the precision at
  the i-th hit ``p_i = i / r_i`` and the precision just before it
  ``p_{i-1}' = (i - 1) / (r_i - 1)`` (1 when ``r_i = 1``): the area under the
  precision-recall curve by the trapezoid rule.
- ``step``: ``AP = (1/n) * sum_i p_i``, the mean precision at the hits (torchreid's and
  scikit-learn's ``average_precision_score``); never lower than ``trapezoid``.
"""

from __future__ import annotations

import numpy as np

#: AP definitions of :func:`rank_metrics`, the default first.
AP_MODES = ("trapezoid", "step")


def cosine_distance(query: np.ndarray, gallery: np.ndarray) -> np.ndarray:
    """(Q, D), (G, D) L2-normalised features -> (Q, G) float32 distances ``1 - cos``."""
    q = np.asarray(query, dtype=np.float32)
    g = np.asarray(gallery, dtype=np.float32)
    return 1.0 - q @ g.T


def rank_metrics(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray,
                 q_camids: np.ndarray, g_camids: np.ndarray, max_rank: int = 50,
                 ap_mode: str = "trapezoid", chunk_size: int = 256) -> tuple[np.ndarray, float]:
    """CMC curve and mAP of a (Q, G) distance matrix under the Market-1501 protocol.

    Args:
        distmat: (Q, G) distances, smaller is closer.
        q_pids, q_camids: (Q,) identities and cameras of the queries.
        g_pids, g_camids: (G,) identities and cameras of the gallery (pid -1: junk).
        max_rank: length of the returned CMC (capped at G).
        ap_mode: ``trapezoid`` (Market-1501's code, default) or ``step`` (mean precision at
            the hits).
        chunk_size: queries processed at once (bounds memory to ``chunk_size * G``).

    Returns:
        ``(cmc, mAP)``: ``cmc`` (max_rank,) float64 with ``cmc[0]`` = Rank-1, ``mAP`` a float,
        both in [0, 1], averaged over the queries that have a valid match.

    Raises:
        ValueError: shapes disagree, or no query has a valid match in the gallery.
    """
    distmat = np.asarray(distmat)
    q_pids, g_pids = np.asarray(q_pids), np.asarray(g_pids)
    q_camids, g_camids = np.asarray(q_camids), np.asarray(g_camids)
    num_q, num_g = distmat.shape
    if q_pids.shape != (num_q,) or q_camids.shape != (num_q,):
        raise ValueError(f"distmat has {num_q} queries, q_pids/q_camids {q_pids.shape}/"
                         f"{q_camids.shape}")
    if g_pids.shape != (num_g,) or g_camids.shape != (num_g,):
        raise ValueError(f"distmat has {num_g} gallery items, g_pids/g_camids {g_pids.shape}/"
                         f"{g_camids.shape}")
    if ap_mode not in AP_MODES:
        raise ValueError(f"ap_mode must be 'trapezoid' or 'step', got {ap_mode!r}")
    max_rank = min(max_rank, num_g)
    cmc_sum = np.zeros(max_rank, dtype=np.float64)
    ap_sum = 0.0
    num_valid = 0
    for start in range(0, num_q, chunk_size):
        sl = slice(start, start + chunk_size)
        order = np.argsort(distmat[sl], axis=1, kind="stable")          # (q, G)
        pids = g_pids[order]
        cams = g_camids[order]
        qp = q_pids[sl, None]
        keep = ~((pids == qp) & (cams == q_camids[sl, None])) & (pids != -1)
        hits = (pids == qp) & keep                                       # (q, G)
        num_hits = hits.sum(axis=1)
        valid = num_hits > 0
        if not valid.any():
            continue
        keep, hits, num_hits = keep[valid], hits[valid], num_hits[valid]
        rank = np.cumsum(keep, axis=1)             # 1-based rank among kept items
        cum_hits = np.cumsum(hits, axis=1)
        first = np.argmax(hits, axis=1)
        first_rank = rank[np.arange(len(first)), first]                  # (v,)
        cmc_sum += (first_rank[:, None] <= np.arange(1, max_rank + 1)[None, :]).sum(axis=0)
        precision = np.where(hits, cum_hits / np.maximum(rank, 1), 0.0)
        if ap_mode == "trapezoid":
            prev = np.where(hits, np.where(rank > 1, (cum_hits - 1) / np.maximum(rank - 1, 1),
                                           1.0), 0.0)
            precision = (precision + prev) / 2
        ap_sum += float((precision.sum(axis=1) / num_hits).sum())
        num_valid += int(valid.sum())
    if num_valid == 0:
        raise ValueError("no query has a valid match in the gallery (same pid, other camera)")
    return cmc_sum / num_valid, ap_sum / num_valid


def summarize(cmc: np.ndarray, mAP: float, ranks: tuple[int, ...] = (1, 5, 10)) -> dict:
    """``{"rank1": .., "rank5": .., "rank10": .., "mAP": ..}`` as percentages (floats)."""
    out = {f"rank{r}": float(cmc[min(r, len(cmc)) - 1]) * 100 for r in ranks}
    out["mAP"] = float(mAP) * 100
    return out
