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


def _strided(n: int, m: int, phase: int = 0) -> np.ndarray:
    """(m,) evenly strided row indices ``phase + floor(i * n / m)`` of n rows (phase < n/m)."""
    return np.arange(m, dtype=np.int64) * n // m + phase


def sample_points(points: np.ndarray, num_points: int = MODEL_POINTS, mode: str = "stride",
                  seed: int | None = 0, rng: np.random.Generator | None = None) -> np.ndarray:
    """Choose ``num_points`` rows of ``points`` (N, C), kept in their original order.

    The lifted cloud has one point per pixel of the crop in row-major order, so a stride
    thins the image evenly. Modes (as the authors' data loader, ``market3d.py``):

    - ``stride`` (default; evaluation, indexing and the app): rows ``floor(i * N / M)``,
      deterministic; 8192 -> 4096 keeps every other pixel.
    - ``random``: M rows drawn uniformly without replacement (``seed`` or ``rng``).
    - ``train``: with probability 1/2 ``random``, otherwise ``stride`` with a random phase
      in ``[0, N // M)`` (the authors always start at row 0; a random phase lets the strided
      half of training see every pixel and not only the ones evaluation sees).

    When N < M rows repeat (random: drawn with replacement). Returns (num_points, C).
    """
    if mode not in SAMPLING_MODES:
        raise ValueError(f"mode must be one of {SAMPLING_MODES}, got {mode!r}")
    n = len(points)
    if n == 0:
        raise ValueError("cannot sample points from an empty cloud")
    if mode == "stride":
        return points[_strided(n, num_points)]
    rng = rng if rng is not None else np.random.default_rng(seed)
    if mode == "train" and rng.random() >= 0.5:
        return points[_strided(n, num_points, int(rng.integers(max(1, n // num_points))))]
    idx = rng.choice(n, size=num_points, replace=n < num_points)
    return points[np.sort(idx)]


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
