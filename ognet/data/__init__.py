"""Re-id datasets: folder parsing, point-cloud datasets, augmentations, samplers.

- :func:`load_dataset` parses Market-1501 / DukeMTMC-reID / CUHK03-NP / MSMT17 folders into
  :class:`ReIDDataset` (lists of :class:`ReIDItem` with pid, camid, image and cloud paths).
- :class:`PointCloudDataset` turns items into ``(4096, 6)`` model inputs.
- :class:`RandomIdentitySampler` builds P x K identity-balanced batches.
"""

from ognet.data.datasets import (
    FORMATS,
    DatasetLayoutError,
    ReIDDataset,
    ReIDItem,
    detect_format,
    load_dataset,
    parse_folder,
    parse_name,
)
from ognet.data.pointcloud_dataset import PointCloudDataset
from ognet.data.samplers import RandomIdentitySampler
from ognet.data.transforms import AugmentConfig, augment, jitter, mirror_x, random_scale, z_zero

__all__ = [
    "FORMATS", "AugmentConfig", "DatasetLayoutError", "PointCloudDataset",
    "RandomIdentitySampler", "ReIDDataset", "ReIDItem", "augment", "detect_format", "jitter",
    "load_dataset", "mirror_x", "parse_folder", "parse_name", "random_scale", "z_zero",
]
