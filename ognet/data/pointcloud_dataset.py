"""``PointCloudDataset``: prepared clouds of a split as model inputs, with the authors' sampling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from ognet.data.datasets import ReIDItem
from ognet.data.transforms import AugmentConfig, augment, z_zero
from ognet.pointcloud import MODEL_POINTS, load_cloud, sample_points


class PointCloudDataset(Dataset):
    """Items of a split -> dicts: ``points`` (num_points, 6) float32, ``label``, ``pid``, ``camid``,
    ``index``.

    Each prepared cloud has 8192 points; ``num_points`` (4096) of them are chosen along the
    cloud's Hilbert curve by :func:`ognet.pointcloud.sample_points` (a function of the
    points, not of their order in the file). In training (``train=True``) half the draws are
    uniform and half evenly spaced with a random phase (mode ``train``), new every epoch, and
    the augmentations of :mod:`ognet.data.transforms` are applied after the sampling; in
    evaluation the points are evenly spaced along the curve (mode ``stride``, as the app and
    ``index`` do) and nothing else changes the cloud.
    All randomness of item ``i`` in epoch ``e`` comes from ``np.random.default_rng([seed, e,
    i])``, so results do not depend on the number of workers and a resumed run sees the same
    data as an uninterrupted one.

    Args:
        items: the split's items; every one needs a ``cloud_path`` (run ``ognet prepare``).
        labels: class index of each item (training); defaults to ``-1`` (none).
        train: random sampling and augmentations.
        num_points: points per cloud given to the model.
        augment_config: augmentation parameters (``None``: the defaults).
        z_zero: set z to 0 (the 2D control of the paper's Table I).
        background: keep the background points (the paper's setting); ``False`` samples from
            the person's points only (the cloud's ``mask``, the lifting's foreground), the
            "without background" arm of a study.
        seed: base seed of the per-item random generators.
    """

    def __init__(self, items: Sequence[ReIDItem], labels: Sequence[int] | None = None,
                 train: bool = False, num_points: int = MODEL_POINTS,
                 augment_config: AugmentConfig | None = None, z_zero: bool = False,
                 background: bool = True, seed: int = 0):
        self.items = list(items)
        missing = [it.path for it in self.items if it.cloud_path is None]
        if missing:
            raise ValueError(
                f"{len(missing)} items have no prepared cloud (first: {missing[0]}); run "
                "`python -m ognet prepare --src DATASET --dst PREPARED` and use PREPARED")
        self.labels = list(labels) if labels is not None else [-1] * len(self.items)
        if len(self.labels) != len(self.items):
            raise ValueError("labels must have one entry per item")
        self.train = train
        self.num_points = num_points
        self.augment_config = augment_config or AugmentConfig()
        self.z_zero = z_zero
        self.background = background
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use epoch ``epoch``'s random draws (call before building the epoch's DataLoader)."""
        self.epoch = epoch

    @property
    def pids(self) -> np.ndarray:
        return np.array([it.pid for it in self.items], dtype=np.int64)

    @property
    def camids(self) -> np.ndarray:
        return np.array([it.camid for it in self.items], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.items)

    def load_points(self, index: int) -> np.ndarray:
        """The model input of item ``index``: (num_points, 6) float32."""
        data = load_cloud(self.items[index].cloud_path)
        cloud = data["points"]
        if cloud.ndim != 2 or cloud.shape[1] != 6:
            raise ValueError(f"{self.items[index].cloud_path}: expected (N, 6) points, "
                             f"got {cloud.shape}")
        if not self.background:
            cloud = person_points(cloud, data["mask"], self.items[index].cloud_path)
        if self.train:
            rng = np.random.default_rng([self.seed, self.epoch, index])
            pts = sample_points(cloud, self.num_points, mode="train", rng=rng)
            pts = augment(pts, self.augment_config, rng)
        else:
            pts = sample_points(cloud, self.num_points, mode="stride")
        if self.z_zero:
            pts = z_zero(pts)
        return np.ascontiguousarray(pts, dtype=np.float32)

    def __getitem__(self, index: int) -> dict:
        it = self.items[index]
        return {"points": torch.from_numpy(self.load_points(index)),
                "label": self.labels[index], "pid": it.pid, "camid": it.camid, "index": index}


def person_points(cloud: np.ndarray, mask: np.ndarray | None, path) -> np.ndarray:
    """The rows of a prepared cloud (one point per pixel, row-major) on its ``mask`` (the
    lifting's foreground); all of them when the mask is empty (nothing to keep)."""
    if mask is None or mask.size != len(cloud):
        raise ValueError(f"{path}: no foreground mask of one entry per point, so its "
                         f"background cannot be removed (re-run `ognet prepare`)")
    keep = np.asarray(mask, bool).reshape(-1)
    return cloud[keep] if keep.any() else cloud


__all__ = ["PointCloudDataset", "person_points"]
