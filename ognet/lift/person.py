"""Every pixel of the person in 3D: the person mask as foreground, depth continued off the body.

The ``"person"`` lifting's foreground is the person's own silhouette (MediaPipe's person
mask, cleaned by :func:`person_mask`), not the fitted body's ray-cast outline: coats, hair,
bags and a build wider than the body are the person too. Its pixels get depth in two ways:

- on the fitted body (a ray hits the mesh): the body's depth there;
- off it: a depth continued smoothly from the body (:func:`continue_depth`), the harmonic
  (Laplace) fill with the body's depth as the boundary condition: each such pixel's depth is
  the mean of its four neighbours' inside the silhouette, the body pixels held fixed, the
  silhouette's edge free (no flux). A coat's hem continues the legs' depth, a bag the
  back's, hair the head's.

Background pixels stay the plane at the mean depth of the foreground, as in the paper.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

#: Person probability above which a pixel is the person's (MediaPipe's masks are soft at
#: the edge; 0.5 is the midpoint of the edge's ramp).
MASK_THRESHOLD = 0.5


def person_mask(probability: np.ndarray, seed: np.ndarray | None = None,
                threshold: float = MASK_THRESHOLD) -> np.ndarray:
    """The person's pixels from a person-probability map.

    Thresholded at ``threshold``, then the connected pieces (8-connectivity) that overlap
    ``seed`` (the fitted body's pixels) are kept, or the largest piece when there is no seed
    or none overlaps (a second person's arm at the crop's edge is not this person); holes
    are filled.

    Args:
        probability: (H, W) float in [0, 1].
        seed: (H, W) bool or None.

    Returns:
        (H, W) bool.
    """
    on = np.asarray(probability) > threshold
    labels, count = ndimage.label(on, structure=np.ones((3, 3), bool))
    if count == 0:
        return on
    sizes = np.bincount(labels.ravel(), minlength=count + 1)
    keep = np.zeros(count + 1, bool)
    if seed is not None:
        touched = np.bincount(labels[np.asarray(seed, bool)], minlength=count + 1)
        keep[1:] = touched[1:] > 0
    if not keep.any():
        keep[1 + int(np.argmax(sizes[1:]))] = True
    return ndimage.binary_fill_holes(keep[labels])


def continue_depth(depth: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Fill the foreground pixels that have no depth with the harmonic continuation of those
    that have it.

    Solves, for the unknown pixels ``p`` (foreground, depth NaN), the sparse linear system

        sum over q in N(p) inside the foreground or known of (z_p - z_q) = 0

    (``N``: the 4-neighbours; ``z_q`` fixed where the depth is known), i.e. the discrete
    Laplace equation with the known depths as Dirichlet and the silhouette's edge as Neumann
    boundary: each unknown depth is the mean of its neighbours'. A piece of the silhouette
    that touches no known pixel (a detached strap, a bag beside the body) takes the depth of
    its nearest known pixel.

    Args:
        depth: (H, W) float, NaN where unknown (the body's ray-cast depth).
        foreground: (H, W) bool, the pixels that must get a depth.

    Returns:
        (H, W) float32: ``depth`` where known, the continuation on the other foreground
        pixels, NaN elsewhere. Unchanged when no depth is known.
    """
    known = np.isfinite(depth)
    out = np.where(known, depth, np.nan).astype(np.float64)
    unknown = foreground & ~known
    if not unknown.any() or not known.any():
        return out.astype(np.float32)
    pieces, count = ndimage.label(unknown)
    touching = np.unique(pieces[ndimage.binary_dilation(known) & unknown])
    detached = unknown & ~np.isin(pieces, touching)
    if detached.any():
        _, (ni, nj) = ndimage.distance_transform_edt(~known, return_indices=True)
        out[detached] = depth[ni, nj][detached]
        unknown = unknown & ~detached
    if unknown.any():
        out[unknown] = _harmonic(np.where(known, depth, 0.0), known, unknown, foreground)
    return out.astype(np.float32)


def _harmonic(depth: np.ndarray, known: np.ndarray, unknown: np.ndarray,
              foreground: np.ndarray) -> np.ndarray:
    """The Laplace solve of :func:`continue_depth` on the ``unknown`` pixels, each of which
    is connected to a ``known`` one: (n,) depths in the order of ``depth[unknown]``."""
    h, w = depth.shape
    n = int(unknown.sum())
    index = np.full((h, w), -1, np.int64)
    index[unknown] = np.arange(n)
    diag, rhs = np.zeros(n), np.zeros(n)
    rows, cols = [], []
    for di, dj in ((1, 0), (-1, 0), (0, 1), (0, -1)):
        # a: the pixels (i, j) whose neighbour (i + di, j + dj) is inside the crop, b: those
        # neighbours
        a = (slice(max(0, -di), h - max(0, di)), slice(max(0, -dj), w - max(0, dj)))
        b = (slice(max(0, di), h - max(0, -di)), slice(max(0, dj), w - max(0, -dj)))
        linked = np.zeros((h, w), bool)
        linked[a] = unknown[a] & (foreground[b] | known[b])
        to_known = np.zeros((h, w), bool)
        to_known[a] = linked[a] & known[b]
        neighbour_depth = np.zeros((h, w))
        neighbour_depth[a] = depth[b]
        neighbour_index = np.full((h, w), -1, np.int64)
        neighbour_index[a] = index[b]
        to_unknown = linked & (neighbour_index >= 0)
        diag += linked[unknown]
        rhs += np.where(to_known, neighbour_depth, 0.0)[unknown]
        rows.append(index[to_unknown])
        cols.append(neighbour_index[to_unknown])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    matrix = sparse.csc_matrix(
        (np.concatenate([diag, -np.ones(len(rows))]),
         (np.concatenate([np.arange(n), rows]), np.concatenate([np.arange(n), cols]))),
        shape=(n, n))
    return spsolve(matrix, rhs)


def nearest_parts(parts: np.ndarray, foreground: np.ndarray) -> np.ndarray:
    """Body part of each pixel: its own where the body covers it (``parts >= 0``), the
    nearest body pixel's on the rest of the foreground, -1 on the background.

    Args:
        parts: (H, W) int, -1 off the body.
        foreground: (H, W) bool.
    """
    on_body = parts >= 0
    if not on_body.any():
        return np.where(foreground, parts, -1)
    _, (ni, nj) = ndimage.distance_transform_edt(~on_body, return_indices=True)
    return np.where(foreground, parts[ni, nj], -1).astype(parts.dtype)
