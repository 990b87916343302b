"""Point clouds as plain arrays: sampling, the prepared-cloud file format, PLY/PCD I/O.

Convention used everywhere in ognet: a cloud is an ``(N, 6)`` float32 array, columns
``x, y, z, r, g, b``; xyz in metres in the person-centred frame of ``ognet.lift`` (y up),
rgb in ``[0, 1]``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

#: Points per lifted 128x64 crop (one per pixel) and points the model sees.
LIFTED_POINTS = 128 * 64
MODEL_POINTS = 4096

#: Suffix of a prepared (lifted) cloud file written by ``python -m ognet prepare``.
CLOUD_SUFFIX = ".npz"


#: Ways :func:`sample_points` can choose rows.
SAMPLING_MODES = ("stride", "random", "train")

#: Bits per axis of the grid the Hilbert curve of :func:`curve_order` runs through: 1024
#: cells across the cloud's longest side (2 mm for a 2 m tall crop).
CURVE_BITS = 10


def canonical_rows(points: np.ndarray) -> np.ndarray:
    """(N,) the rows of (N, C) ``points`` sorted by their values, in reading order: from the
    top (largest y) down, then left to right (x), then by z and the remaining columns. The
    order of :func:`ognet.ops.canonical_order`, which OG-Net applies to its input."""
    cols = [points[:, c] for c in range(points.shape[1] - 1, 1, -1)]
    return np.lexsort((*cols, points[:, 0], -points[:, 1]))


def hilbert_codes(xyz: np.ndarray, bits: int = CURVE_BITS) -> np.ndarray:
    """(N,) int64 position of each point of (N, 3) ``xyz`` along a 3-D Hilbert curve.

    The cloud's bounding cube (its longest side on every axis, so cells are cubes) is cut
    into ``2^bits`` cells per axis; a point's code is the rank of its cell along the curve,
    which visits every cell once, each next to the one before. Points close on the curve are
    close in space, so evenly spaced ranks along it cover the cloud evenly (a stride through
    the file's rows does not: see :func:`sample_points`). Vectorised form of J. Skilling,
    "Programming the Hilbert curve", AIP Conf. Proc. 707 (2004): axes -> transposed index,
    then the bits interleaved.
    """
    lo = xyz.min(axis=0)
    extent = float((xyz.max(axis=0) - lo).max())
    scale = (2**bits - 1) / extent if extent > 0 else 0.0
    x = np.floor((xyz - lo) * scale + 0.5).astype(np.int64).T.copy()  # (3, N) cell indices
    top = 1 << (bits - 1)
    q = top
    while q > 1:  # inverse undo of the excess work: Gray-code rotations and reflections
        p = q - 1
        for i in range(3):
            hit = (x[i] & q) != 0
            x[0] = np.where(hit, x[0] ^ p, x[0])  # invert the low bits of x[0]
            t = np.where(hit, 0, (x[0] ^ x[i]) & p)  # or exchange them with x[i]'s
            x[0] ^= t
            x[i] ^= t
        q >>= 1
    for i in (1, 2):  # Gray encode
        x[i] ^= x[i - 1]
    t = np.zeros_like(x[0])
    q = top
    while q > 1:
        t = np.where((x[2] & q) != 0, t ^ (q - 1), t)
        q >>= 1
    x ^= t
    code = np.zeros(x.shape[1], dtype=np.int64)
    for b in range(bits - 1, -1, -1):  # interleave: bit b of x[0], x[1], x[2], then b - 1
        for i in range(3):
            code = (code << 1) | ((x[i] >> b) & 1)
    return code


def curve_order(points: np.ndarray) -> np.ndarray:
    """(N,) rows of (N, C) ``points`` along the Hilbert curve of their xyz
    (:func:`hilbert_codes`), points in one cell in :func:`canonical_rows` order: a function of
    the point set, not of the order of the rows."""
    rank = np.empty(len(points), dtype=np.int64)
    rank[canonical_rows(points)] = np.arange(len(points))
    # One int64 key per point, the curve position above the rank (3 * CURVE_BITS = 30 bits
    # and at most 33): one sort, several times faster than a lexsort with the code as a key.
    return np.argsort((hilbert_codes(points[:, :3]) << max(1, (len(points) - 1).bit_length()))
                      | rank)


def _strided(n: int, m: int, phase: int = 0) -> np.ndarray:
    """(m,) evenly strided positions ``phase + floor(i * n / m)`` of n (phase < n/m)."""
    return np.arange(m, dtype=np.int64) * n // m + phase


def sample_rows(points: np.ndarray, num_points: int = MODEL_POINTS, mode: str = "stride",
                seed: int | None = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """The ``num_points`` rows of ``points`` (N, C) that the model sees, chosen along the
    cloud's Hilbert curve (:func:`curve_order`), so the choice depends on the points and not
    on the order of the rows, and covers the person evenly in 3D and in the image.

    The authors' loader (``market3d.py``) takes evenly spaced rows (``np.linspace``) of the
    stored cloud, or, for half of the training draws, random ones, from the points that have
    a colour (pure white marks a point without one in their files; such points only make up
    the count when too few are coloured); every point of a lifted crop has a colour, so here
    all of them take part. Evenly spaced through a
    lifted crop's rows (one point per pixel, row-major) keeps whole pixel columns: 1024 of
    8192 points are every 8th column of a 64-pixel-wide crop, vertical stripes 8 pixels
    apart. Evenly spaced along the Hilbert curve, each of ``num_points`` runs of consecutive
    curve points gives one point: on the six lifted examples at 1024 points, a pixel is on
    average 1.2 pixels from a kept one (2.2 through the rows; 99th percentile 2.2 against
    7.0) and a point 2.0 cm (3.8 cm) from a kept one in 3D, about as close as farthest point
    sampling gets
    (``benchmarks/bench_sampling.py``, BENCHMARKS.md "Sampling to the model's points").

    Modes:

    - ``stride`` (default; evaluation, indexing and the app): the points at curve positions
      ``floor(i N / M)``, deterministic.
    - ``random``: M positions drawn uniformly without replacement (``seed`` or ``rng``).
    - ``train``: with probability 1/2 ``random``, otherwise ``stride`` with a random phase in
      ``[0, N // M)`` (the authors always start at the first point; a random phase lets the
      strided half of training see every point and not only the ones evaluation sees).

    When N < M points repeat (random: drawn with replacement).

    Returns:
        (num_points,) int64 row indices, in the order of the curve.
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"mode must be one of {SAMPLING_MODES}, got {mode!r}")
    n = len(points)
    if n == 0:
        raise ValueError("cannot sample points from an empty cloud")
    if not np.isfinite(points[:, :3]).all():
        raise ValueError("the cloud has non-finite coordinates (NaN or inf)")
    order = curve_order(points)
    if mode == "stride":
        return order[_strided(n, num_points)]
    rng = rng if rng is not None else np.random.default_rng(seed)
    if mode == "train" and rng.random() >= 0.5:
        return order[_strided(n, num_points, int(rng.integers(max(1, n // num_points))))]
    return order[np.sort(rng.choice(n, size=num_points, replace=n < num_points))]


def sample_points(points: np.ndarray, num_points: int = MODEL_POINTS, mode: str = "stride",
                  seed: int | None = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """(num_points, C): the rows of :func:`sample_rows` (see there) of ``points`` (N, C)."""
    return points[sample_rows(points, num_points, mode, seed, rng)]


def save_cloud(path: str | os.PathLike, points: np.ndarray, mask: np.ndarray | None = None,
               method: str = "pose") -> None:
    """Write a prepared cloud atomically: ``points`` (N, 6) float16, ``mask`` (H, W) bool.

    The file is written to a temporary name in the same folder and renamed, so an interrupted
    run never leaves a partial file behind.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"points": np.asarray(points, dtype=np.float16), "method": np.array(method)}
    if mask is not None:
        arrays["mask"] = np.asarray(mask, dtype=bool)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp.npz")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_cloud(path: str | os.PathLike) -> dict:
    """Read a prepared cloud.

    Returns ``{"points": (N, 6) float32, "mask": (H, W) bool | None, "method": str}``.
    """
    with np.load(path, allow_pickle=False) as data:
        return {
            "points": data["points"].astype(np.float32),
            "mask": data["mask"] if "mask" in data.files else None,
            "method": str(data["method"]) if "method" in data.files else "unknown",
        }


def to_open3d(points: np.ndarray):
    """(N, 6) array -> ``open3d.geometry.PointCloud`` with colors."""
    import open3d as o3d

    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(np.asarray(points[:, :3], dtype=np.float64))
    pcd.colors = o3d.utility.Vector3dVector(np.clip(points[:, 3:6], 0, 1).astype(np.float64))
    return pcd


def save_ply(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write an (N, 6) cloud as a binary ``.ply`` with Open3D."""
    import open3d as o3d

    if not o3d.io.write_point_cloud(str(path), to_open3d(points), write_ascii=False):
        raise OSError(f"Open3D could not write {path}")


def read_point_cloud_file(path: str | os.PathLike) -> np.ndarray:
    """Read a ``.ply`` / ``.pcd`` file with Open3D into an (N, 6) float32 array.

    Raises ``ValueError`` with a readable message when the file holds no points. A cloud
    without colors gets mid-grey.
    """
    import open3d as o3d

    pcd = o3d.io.read_point_cloud(str(path))
    xyz = np.asarray(pcd.points, dtype=np.float32)
    if len(xyz) == 0:
        raise ValueError(f"{Path(path).name}: no points could be read (is it a .ply/.pcd cloud?)")
    if pcd.has_colors():
        rgb = np.asarray(pcd.colors, dtype=np.float32)
    else:
        rgb = np.full_like(xyz, 0.5)
    return np.concatenate([xyz, rgb], axis=1)
