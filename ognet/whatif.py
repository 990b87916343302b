"""What if: re-run a query under one change to the cloud or the model and see the top-k move.

Each variation builds a new input from the query's cloud (never changing it) and embeds it
as the pipeline does; the answer says where the original top-k went and how far the
embedding moved (its cosine to the original embedding).

Variations (``name``: ``value``):

- ``greyscale``: rgb -> luminance ``0.299 r + 0.587 g + 0.114 b`` in all three channels.
- ``no_colour``: rgb -> 0.5 (mid grey): shape alone.
- ``flat_depth``: z = 0, the paper's 2D control input (Table I).
- ``body_only``: the background points removed (the points off the body; needs the
  foreground of a lifted photo), the model's points drawn from the body alone.
- ``yaw``: the cloud turned about the vertical (y) axis by ``value`` degrees.
- ``mirror``: x -> -x (the horizontal flip of training's augmentation).
- ``k``: the EdgeConv graphs built with ``value`` neighbours (trained with ``config.k``): the
  paper's Fig. 7, here at test time on one model instead of one model per k.
- ``density``: the model sees ``round(value * num_points)`` points (``value`` in (0, 1]): the
  paper's Fig. 8 at test time.
"""

from __future__ import annotations

import copy
import functools
import threading
from dataclasses import dataclass

import numpy as np
import torch

#: Variation name -> (what it does, whether it takes a value, the app's default values).
VARIATIONS = {
    "greyscale": ("colour -> luminance", False, ()),
    "no_colour": ("colour -> mid grey (shape alone)", False, ()),
    "flat_depth": ("z = 0 (the paper's 2D control)", False, ()),
    "body_only": ("background points removed", False, ()),
    "yaw": ("turned about the vertical axis (degrees)", True, (-90, -30, 30, 90)),
    "mirror": ("mirrored left-right", False, ()),
    "k": ("neighbours of the EdgeConv graphs", True, (4, 8, 16, 20, 32, 64)),
    "density": ("fraction of the model's input points", True, (0.25, 0.5, 0.75, 1.0)),
}
K_RANGE = (1, 128)


class WhatIfError(ValueError):
    """A variation that cannot be applied (unknown name, bad value, no foreground)."""


@dataclass
class Move:
    """Where one of the original top-k items went: ranks are 1-based over the whole gallery."""

    index: int
    pid: int
    old_rank: int
    new_rank: int
    old_similarity: float
    new_similarity: float


@dataclass
class WhatIf:
    """A re-run query.

    Attributes:
        variation, value: what was changed.
        points: (N', 6) what the model saw.
        embedding: (D,) its unit feature; cosine_to_original: its cosine to the query's.
        matches: the new top-k (``ognet.pipeline.Match``); moves: the original top-k's new
            places, in their original order.
    """

    variation: str
    value: float | None
    points: np.ndarray
    embedding: np.ndarray
    cosine_to_original: float
    matches: list
    moves: list[Move]

    def to_dict(self) -> dict:
        return {"variation": self.variation, "value": self.value,
                "cosine_to_original": round(self.cosine_to_original, 6),
                "num_points": len(self.points),
                "matches": [{"rank": m.rank, "similarity": round(m.similarity, 6),
                             "pid": m.pid, "camid": m.camid} for m in self.matches],
                "moves": [{"old_rank": mv.old_rank, "new_rank": mv.new_rank, "pid": mv.pid,
                           "old_similarity": round(mv.old_similarity, 6),
                           "new_similarity": round(mv.new_similarity, 6)}
                          for mv in self.moves]}


def check(variation: str, value) -> float | None:
    """The variation's value as a float (None for those without one); raises WhatIfError."""
    if variation not in VARIATIONS:
        raise WhatIfError(f"unknown variation {variation!r}; choose one of "
                          f"{', '.join(VARIATIONS)}")
    if not VARIATIONS[variation][1]:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise WhatIfError(f"{variation} needs a number, got {value!r}") from None
    if not np.isfinite(value):
        raise WhatIfError(f"{variation} needs a finite number, got {value}")
    if variation == "k" and not (K_RANGE[0] <= value <= K_RANGE[1] and value == int(value)):
        raise WhatIfError(f"k must be an integer in [{K_RANGE[0]}, {K_RANGE[1]}], got {value}")
    if variation == "density" and not 0 < value <= 1:
        raise WhatIfError(f"density must be in (0, 1], got {value}")
    return value


def vary_cloud(cloud: np.ndarray, variation: str, value: float | None = None,
               foreground: np.ndarray | None = None) -> np.ndarray:
    """A changed copy of ``cloud`` (M, 6) for the cloud variations (the others return it as
    is). ``foreground`` (M,) bool is needed by ``body_only``."""
    out = np.array(cloud, dtype=np.float32, copy=True)
    if variation == "greyscale":
        out[:, 3:6] = (out[:, 3:6] @ np.array([0.299, 0.587, 0.114], np.float32))[:, None]
    elif variation == "no_colour":
        out[:, 3:6] = 0.5
    elif variation == "flat_depth":
        out[:, 2] = 0.0
    elif variation == "body_only":
        if foreground is None:
            raise WhatIfError("body only needs a lifted photo (a cloud file does not say "
                              "which points are the background)")
        foreground = np.asarray(foreground, bool).reshape(-1)
        if not foreground.any():
            raise WhatIfError("this query has no body points")
        out = out[foreground]
    elif variation == "yaw":
        out[:, :3] = out[:, :3] @ yaw_matrix(value).T
    elif variation == "mirror":
        out[:, 0] = -out[:, 0]
    return out


def yaw_matrix(degrees: float) -> np.ndarray:
    """(3, 3) right-handed rotation about +y (up) by ``degrees``, applied as ``xyz @ R.T``."""
    a = np.deg2rad(degrees)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]], dtype=np.float32)


_K_LOCK = threading.Lock()


@functools.lru_cache(maxsize=8)
def _model_with_k(model, k: int):
    m = copy.deepcopy(model).eval()
    for block in m.blocks:
        block.k = k
    return m


def model_with_k(model, k: int):
    """A copy of ``model`` whose modules build their graphs with ``k`` neighbours (cached; the
    original model is never changed, so concurrent queries are unaffected)."""
    if k == model.config.k:
        return model
    with _K_LOCK:
        return _model_with_k(model, int(k))


def what_if(pipe, result, variation: str, value=None) -> WhatIf:
    """Re-run ``result`` (a ``QueryResult`` of ``pipe``) under one variation.

    ``result`` is not changed. Raises :class:`WhatIfError` for an unusable variation.
    """
    value = check(variation, value)
    model = pipe.model
    cloud = vary_cloud(result.cloud, variation, value, result.foreground)
    num_points = model.config.num_points
    if variation == "k":
        model = model_with_k(model, int(value))
    elif variation == "density":
        num_points = max(1, round(value * num_points))
        first = next((p for p in model.config.stage_points if p), 0)
        if num_points < first:
            raise WhatIfError(f"{value:.0%} of {model.config.num_points} points is fewer than "
                              f"the {first} the first module keeps")
    points = pipe.model_points(cloud, num_points)
    with torch.no_grad():
        embedding = model.extract(torch.from_numpy(points).to(pipe.device)[None])[0].cpu()
    return _compare(pipe, result, variation, value, points, embedding.numpy())


def yaw_curve(pipe, result, angles=tuple(range(-180, 181, 15))) -> tuple[np.ndarray, np.ndarray]:
    """The cosine of the turned query's embedding to the original one for each yaw angle
    (degrees), run as batches of 8 clouds: returns ``(angles, cosines)``."""
    clouds = [pipe.model_points(vary_cloud(result.cloud, "yaw", a)) for a in angles]
    x = torch.from_numpy(np.stack(clouds)).to(pipe.device)
    with torch.no_grad():
        feats = torch.cat([pipe.model.extract(x[i:i + 8]) for i in range(0, len(x), 8)])
    cosines = feats.cpu().numpy() @ result.embedding
    return np.asarray(angles, dtype=np.float64), cosines.astype(np.float64)


def gallery_similarities(gallery, embedding: np.ndarray, chunk: int = 262144) -> np.ndarray:
    """(N,) exact cosine of a unit ``embedding`` (D,) to every stored gallery feature (float16
    rows, multiplied in float32 a chunk at a time)."""
    q = torch.as_tensor(np.asarray(embedding, dtype=np.float32))
    feats = gallery.features
    return torch.cat([feats[i:i + chunk].float().cpu() @ q
                      for i in range(0, len(feats), chunk)]).numpy()


def _compare(pipe, result, variation, value, points, embedding) -> WhatIf:
    """New ranks of the original top-k over the whole gallery (1 + the items scored higher,
    exactly), and the new top-k from the pipeline's search."""
    k = len(result.matches)
    sims = gallery_similarities(pipe.gallery, embedding)
    moves = [Move(index=m.index, pid=m.pid, old_rank=m.rank,
                  new_rank=int((sims > sims[m.index]).sum()) + 1,
                  old_similarity=m.similarity, new_similarity=float(sims[m.index]))
             for m in result.matches]
    return WhatIf(variation=variation, value=value, points=points, embedding=embedding,
                  cosine_to_original=float(embedding @ result.embedding),
                  matches=pipe.search(embedding, k=k), moves=moves)
