"""Why did it match: the exact split of a cosine similarity over the query's points and parts.

OG-Net's head (``OGNet.forward_features``) pools the last module's point features
``h`` (M, C) and maps them to the embedding ``e`` (D,) by a bias-free linear layer
``W = [W_max | W_mean]`` (D, 2C) and batch norm, which is affine at inference,
``BN(y) = s * y + t`` with ``s = gamma / sqrt(var + eps)`` and ``t = beta - s * mu``:

    e = s * (W_max max_i h_i + W_mean mean_i h_i) + t = sum_i x_i + t
    x_i = s * (W_max (1[i wins c] h_ic)_c + W_mean h_i / M)

Each channel c of the max goes wholly to the point that wins it (ties: the first; the value
is the same), the mean splits evenly. The gallery search reports ``q . g`` with
``q = e / |e|`` and g the stored gallery feature (unit norm, float16 on disk), so

    similarity = sum_i c_i + bias,   c_i = x_i . g / |e|,   bias = t . g / |e|

exactly (the bias is batch norm's shift; the linear layer has no bias, it maps nothing to
zero). Computed in float64, the terms add up to the similarity to ~1e-7.

Each last-module point i covers input points through the groups of every module: a module's
output point j takes an equal share from each branch and, within a branch of rate r, 1/r per
member slot (a member in several branches gets several shares); a module without branches
(OG-Net-Deep's basic module) maps each point to itself. Composing the modules gives a
row-stochastic (M, N) matrix ``A``; ``A^T c`` gives every input point a contribution, and the
contributions still sum to ``sum_i c_i``. Summing them over the body part of each input point
(from the lifting, :func:`part_labels`) splits the similarity into head / torso / arms / legs /
feet / background + bias. The EdgeConv graphs also mix neighbours' features into a point; the
groups are what decide *where* a last-module point sits, so the map follows them only.

For the side-by-side view the match's own cloud is split the same way against the query's
feature, and the cross terms ``x_i . x'_j / (|e| |e'|)`` of the two sums give the strongest
point pairs.
"""

from __future__ import annotations

import functools
import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from ognet.body import PART_NAMES
from ognet.models.trace import ModelTrace

#: The parts an explanation reports, and the fine body parts of ``ognet.body`` each one joins.
REGIONS = {
    "head": ("head",),
    "torso": ("torso",),
    "arms": ("upper_arms", "lower_arms", "hands"),
    "legs": ("upper_legs", "lower_legs"),
    "feet": ("feet",),
}
BACKGROUND = "background"
#: Points whose part is not known (a .ply/.pcd query has no lifting to tell).
UNLABELLED = "unlabelled"
PART_KEYS = (*REGIONS, BACKGROUND)

#: Region index of each fine part of ``ognet.body.PART_NAMES``.
_REGION_OF_PART = np.array([next(i for i, parts in enumerate(REGIONS.values()) if p in parts)
                            for p in PART_NAMES])
_BACKGROUND_ID = len(REGIONS)
_UNLABELLED_ID = len(REGIONS) + 1


def part_labels(body_parts: np.ndarray | None, foreground: np.ndarray | None,
                n: int) -> np.ndarray:
    """(n,) region index of each cloud point: 0..4 for :data:`REGIONS`, 5 background, 6 unknown.

    Args:
        body_parts: (n,) fine part (index into ``ognet.body.PART_NAMES``, -1 off the body) from
            ``LiftResult.parts``, or None.
        foreground: (n,) bool, used when the parts are unknown (body points stay unlabelled).
    """
    if body_parts is not None:
        body_parts = np.asarray(body_parts).reshape(-1)
        return np.where(body_parts >= 0, _REGION_OF_PART[np.clip(body_parts, 0, None)],
                        _BACKGROUND_ID)
    labels = np.full(n, _UNLABELLED_ID)
    if foreground is not None:
        labels[~np.asarray(foreground, bool).reshape(-1)] = _BACKGROUND_ID
    return labels


# ---------------------------------------------------------------------------- forward pass
@dataclass
class Forward:
    """One cloud through the model, with what the head saw.

    Attributes:
        points: (N, 6) the model's input.
        trace: the :class:`ModelTrace` (``trace.embedding`` is the unit feature).
        features: (M, C) float64, the last module's point features ``h``.
        embedding: (D,) float64, ``e`` before normalisation.
        terms: (M, D) float64, the per-point terms ``x_i``; ``shift`` (D,) is ``t``.
    """

    points: np.ndarray
    trace: ModelTrace
    features: torch.Tensor
    embedding: torch.Tensor
    terms: torch.Tensor
    shift: torch.Tensor

    @property
    def last_xyz(self) -> np.ndarray:
        """(M, 3) positions of the last module's points."""
        return self.trace.modules[-1].out_xyz.numpy()

    @functools.cached_property
    def coverage(self) -> sp.csr_matrix:
        return coverage_matrix(self.trace)


def run_model(model, points: np.ndarray) -> Forward:
    """Run ``model`` (eval mode) on one (N, 6) cloud and split its head into per-point terms.

    The last module's output is caught by a forward hook, so the model runs once and
    unchanged; the per-point terms are checked to add up to the embedding it returned.
    """
    if model.training:
        raise RuntimeError("explanations need the model in eval mode (batch norm is affine "
                           "only at inference)")
    caught = {}
    hook = model.blocks[-1].register_forward_hook(
        lambda _m, _inp, out: caught.__setitem__("h", out[1]))
    device = next(model.parameters()).device
    x = torch.as_tensor(np.asarray(points, dtype=np.float32), device=device)[None]
    record: list = []
    try:
        with torch.no_grad():
            e32 = model.forward_features(x, record=record)[0]
    finally:
        hook.remove()
    h = caught["h"][0].double().cpu()
    terms, shift = head_terms(model, h)
    e = terms.sum(0) + shift
    if not torch.allclose(e, e32.double().cpu(), atol=1e-4 * max(1.0, float(e.abs().max()))):
        raise RuntimeError("the head is not max+mean pooling, a linear map and batch norm: "
                           "its per-point terms do not add up to the embedding")
    trace = ModelTrace(points=x[0].cpu(), modules=record,
                       embedding=F.normalize(e32, dim=-1).cpu())
    return Forward(points=np.asarray(points, np.float32), trace=trace, features=h,
                   embedding=e, terms=terms, shift=shift)


def head_terms(model, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(M, C) last-module features -> per-point terms x (M, D) and the shift t (D,), float64,
    with ``sum_i x_i + t`` equal to the model's embedding (see the module docstring)."""
    m, c = h.shape
    w = model.embedding.weight.detach().double().cpu()  # (D, 2C)
    bn = model.embedding_norm
    scale = bn.weight.detach().double().cpu() / torch.sqrt(
        bn.running_var.double().cpu() + bn.eps)
    shift = bn.bias.detach().double().cpu() - scale * bn.running_mean.double().cpu()
    winners = torch.zeros_like(h)
    winners[h.argmax(dim=0), torch.arange(c)] = 1.0
    terms = ((winners * h) @ w[:, :c].t() + (h / m) @ w[:, c:].t()) * scale
    return terms, shift


def coverage_matrix(trace: ModelTrace) -> sp.csr_matrix:
    """(M_last, N_input) row-stochastic share of each input point in each last-module point,
    composed through the groups of every module (see the module docstring)."""
    total = None
    for module in trace.modules:
        groups = list(module.groups.values())
        rows_out, n_in = module.out_xyz.shape[0], module.in_xyz.shape[0]
        if not groups:  # a module without branches: each output point is one input point
            own = (np.arange(n_in) if module.sampled_idx is None
                   else module.sampled_idx.numpy())
            groups = [torch.as_tensor(own).reshape(-1, 1)]
        rows, cols, vals = [], [], []
        for g in groups:
            g = g.numpy()
            r = g.shape[1]
            rows.append(np.repeat(np.arange(rows_out), r))
            cols.append(g.reshape(-1))
            vals.append(np.full(g.size, 1.0 / (r * len(groups))))
        a = sp.csr_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(rows_out, n_in))  # duplicates add up
        total = a if total is None else a @ total
    return total.tocsr()


# ---------------------------------------------------------------------------- explanation
@dataclass
class Side:
    """One cloud's half of an explanation, split against the other side's unit feature.

    Attributes:
        points: (N, 6) the model's input points.
        point_contributions: (N,) each input point's share (sums to ``similarity - bias``).
        last_xyz: (M, 3) and last_contributions (M,): the last module's points and their c_i.
        bias: batch norm's shift term; similarity: ``sum + bias``.
    """

    points: np.ndarray
    point_contributions: np.ndarray
    last_xyz: np.ndarray
    last_contributions: np.ndarray
    bias: float
    similarity: float


def split(forward: Forward, target: np.ndarray | torch.Tensor) -> Side:
    """Split ``normalize(e) . target`` over ``forward``'s points (target: (D,), used as is)."""
    g = torch.as_tensor(np.asarray(target, dtype=np.float64))
    norm = forward.embedding.norm()
    c = (forward.terms @ g / norm).numpy()
    bias = float(forward.shift @ g / norm)
    per_point = forward.coverage.T @ c
    return Side(points=forward.points, point_contributions=per_point,
                last_xyz=forward.last_xyz, last_contributions=c, bias=bias,
                similarity=float(c.sum() + bias))


def sum_parts(point_contributions: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Contributions summed per part: head, torso, arms, legs, feet, background (always), and
    ``unlabelled`` when some points have no known part."""
    totals = np.bincount(labels, weights=point_contributions, minlength=_UNLABELLED_ID + 1)
    parts = {name: float(totals[i]) for i, name in enumerate(PART_KEYS)}
    if (labels == _UNLABELLED_ID).any():
        parts[UNLABELLED] = float(totals[_UNLABELLED_ID])
    return parts


@dataclass
class Explanation:
    """Why the query matched one gallery item.

    Attributes:
        rank: the match's rank (1-based); reported_similarity: what the search said.
        similarity: ``sum(parts) + bias`` (equal to ``reported_similarity`` to float rounding).
        parts: per-part sums (:func:`sum_parts`); bias: batch norm's shift term.
        query: the query's :class:`Side` (against the stored gallery feature);
        query_labels: (N,) region index of each of its input points.
        match: the match's own cloud split against the query's feature (None when the match
            has no cloud to show); its similarity is recomputed from that cloud.
        match_parts: ``match``'s contributions summed per part (:func:`sum_parts`; the parts
            of a re-lifted match are known, a prepared cloud's body is ``unlabelled``), so
            ``sum(match_parts) + match.bias == match.similarity``; None without ``match``.
        pairs: strongest (query last-module point, match last-module point, value) cross terms.
    """

    rank: int
    reported_similarity: float
    similarity: float
    parts: dict[str, float]
    bias: float
    query: Side
    query_labels: np.ndarray
    match: Side | None = None
    match_note: str = ""
    pairs: list[tuple[int, int, float]] = field(default_factory=list)
    match_parts: dict[str, float] | None = None

    @property
    def background_share(self) -> float:
        """Background's part of the similarity, as a fraction of it."""
        return self.parts[BACKGROUND] / self.similarity if self.similarity else 0.0

    def to_dict(self) -> dict:
        """JSON-ready summary (the ``/explain`` answer). With the match side: ``match`` (its
        similarity recomputed from its own cloud, parts, bias, points) and ``pairs`` with the
        last-module points' indices and positions (metres, person-centred)."""
        out = {"rank": self.rank, "similarity": round(self.similarity, 6),
               "reported_similarity": round(self.reported_similarity, 6),
               "parts": {k: round(v, 6) for k, v in self.parts.items()},
               "bias": round(self.bias, 6),
               "background_share": round(self.background_share, 4),
               "query_points": len(self.query.points),
               "pairs": []}
        if self.match is not None:
            out["match"] = {"similarity": round(self.match.similarity, 6),
                            "parts": {k: round(v, 6) for k, v in (self.match_parts or {}).items()},
                            "bias": round(self.match.bias, 6),
                            "points": len(self.match.points)}
            out["pairs"] = [{"query_point": i, "match_point": j, "value": round(v, 6),
                             "query_xyz": np.round(self.query.last_xyz[i], 4).tolist(),
                             "match_xyz": np.round(self.match.last_xyz[j], 4).tolist()}
                            for i, j, v in self.pairs]
        if self.match_note:
            out["match_note"] = self.match_note
        return out


def strongest_pairs(query: Forward, match: Forward, n: int = 8) -> list[tuple[int, int, float]]:
    """The ``n`` largest cross terms ``x_i . x'_j / (|e| |e'|)`` of
    ``cos(e, e') = (sum_i x_i + t) . (sum_j x'_j + t) / (|e| |e'|)``, largest first."""
    p = (query.terms @ match.terms.t()) / (query.embedding.norm() * match.embedding.norm())
    flat = torch.topk(p.flatten(), min(n, p.numel()))
    cols = p.shape[1]
    return [(int(k // cols), int(k % cols), float(v))
            for k, v in zip(flat.indices, flat.values, strict=True)]


def explain(query: Forward, query_labels: np.ndarray, gallery_feature, rank: int,
            reported_similarity: float, match: Forward | None = None,
            match_note: str = "", num_pairs: int = 8,
            match_labels: np.ndarray | None = None) -> Explanation:
    """Split the similarity of ``query`` and one gallery item.

    Args:
        query: the query's :func:`run_model`.
        query_labels: (N,) region index of each query input point (:func:`part_labels`).
        gallery_feature: (D,) the item's stored feature (as the search used it).
        match: the match's own cloud through the model, for the side-by-side view.
        match_labels: (N',) region index of each of ``match``'s input points (default: all
            unlabelled).
    """
    side = split(query, torch.as_tensor(gallery_feature).double())
    match_side, match_parts, pairs = None, None, []
    if match is not None:
        match_side = split(match, query.trace.embedding.double())
        if match_labels is None:
            match_labels = part_labels(None, None, len(match.points))
        match_parts = sum_parts(match_side.point_contributions, match_labels)
        pairs = strongest_pairs(query, match, num_pairs)
    return Explanation(rank=rank, reported_similarity=float(reported_similarity),
                       similarity=side.similarity,
                       parts=sum_parts(side.point_contributions, query_labels),
                       bias=side.bias, query=side, query_labels=query_labels,
                       match=match_side, match_note=match_note, pairs=pairs,
                       match_parts=match_parts)


# ---------------------------------------------------------------------------- pipeline glue
def query_labels(pipe, result) -> np.ndarray:
    """(N,) region index of each point the model saw for ``result`` (a ``QueryResult``)."""
    parts = result.lift.parts if result.lift is not None else None
    labels = part_labels(parts, result.foreground, len(result.cloud))
    return labels[pipe.model_rows(result.cloud)]


class _OwnedCache:
    """A small LRU of values computed for an object (a query result, a pipeline): entries are
    keyed by ``id(owner)`` and a weak reference that must still point at the owner, so a
    recycled id never returns another object's value."""

    def __init__(self, size: int):
        self.size = size
        self.items: OrderedDict = OrderedDict()
        self.lock = threading.Lock()

    def get(self, owner, key, make):
        full = (id(owner), key)
        with self.lock:
            hit = self.items.get(full)
            if hit is not None and hit[0]() is owner:
                self.items.move_to_end(full)
                return hit[1]
        value = make()
        with self.lock:
            self.items[full] = (weakref.ref(owner), value)
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


#: The query's forward pass (re-used by the other ranks of the same query) and the matches'.
_QUERIES = _OwnedCache(8)
_MATCHES = _OwnedCache(32)


def explain_match(pipe, result, rank: int, with_match: bool = True,
                  num_pairs: int = 8) -> Explanation:
    """Explain match ``rank`` (1-based) of ``result``, a ``QueryResult`` of ``pipe``.

    The query side is split against the gallery feature the search used, so parts + bias
    equal the reported similarity. With ``with_match`` the match's cloud
    (``pipe.match_cloud``: its prepared cloud, or its photo or thumbnail re-lifted) is run
    too, for the side-by-side view, its part split (``match_parts``) and the strongest
    pairs; a match without any cloud is explained from the query side alone, with a note.
    Forward passes are cached: the query's (for its other ranks) and the last 32 matches'
    (with their part labels).
    """
    if not 1 <= int(rank) <= len(result.matches):
        raise ValueError(f"rank must be 1..{len(result.matches)}, got {rank}")
    m = result.matches[int(rank) - 1]
    query = _QUERIES.get(result, "query", lambda: run_model(pipe.model, result.points))
    gallery_feature = pipe.gallery.features[m.index].float().cpu().numpy()
    match, labels, note = None, None, ""
    if with_match:
        try:
            match, labels = _MATCHES.get(pipe, m.index, lambda: match_forward(pipe, m))
            note = ("the match's cloud was re-made for this view; its own similarity "
                    "differs from the search's by the float16 storage and any re-lifting")
        except (ValueError, OSError) as exc:
            note = f"no cloud for match #{m.rank}: {exc}"
    return explain(query, query_labels(pipe, result), gallery_feature, m.rank, m.similarity,
                   match=match, match_note=note, num_pairs=num_pairs, match_labels=labels)


def match_forward(pipe, match) -> tuple[Forward, np.ndarray]:
    """A gallery match's own cloud (``pipe.match_cloud_parts``) through the model, and the
    region index of each point the model saw (:func:`part_labels`)."""
    cloud, parts, foreground = pipe.match_cloud_parts(match)
    labels = part_labels(parts, foreground, len(cloud))[pipe.model_rows(cloud)]
    return run_model(pipe.model, pipe.model_points(cloud)), labels
