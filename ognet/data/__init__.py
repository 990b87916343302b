"""Re-id datasets: folder parsing, point-cloud datasets, augmentations, samplers.

- :func:`load_dataset` parses Market-1501 / DukeMTMC-reID / CUHK03-NP / MSMT17 folders into
  :class:`ReIDDataset` (lists of :class:`ReIDItem` with pid, camid, image and cloud paths).
- :class:`PointCloudDataset` turns items into ``(4096, 6)`` model inputs.
- :class:`RandomIdentitySampler` builds P x K identity-balanced batches;
  :class:`ClassBalancedSampler` draws every identity equally often (the authors' sampling).
"""

from ognet.data.datasets import (
    FORMATS,
    DatasetLayoutError,
    ReIDDataset,
    ReIDItem,
    detect_format,
    hold_out_identities,
    load_dataset,
    parse_folder,
    parse_name,
)
from ognet.data.pointcloud_dataset import PointCloudDataset
from ognet.data.samplers import ClassBalancedSampler, RandomIdentitySampler
from ognet.data.transforms import AugmentConfig, augment, jitter, mirror_x, random_scale, z_zero

__all__ = [
    "FORMATS", "AugmentConfig", "ClassBalancedSampler", "DatasetLayoutError", "PointCloudDataset",
    "RandomIdentitySampler", "ReIDDataset", "ReIDItem", "augment", "detect_format",
    "hold_out_identities", "jitter",
    "load_dataset", "mirror_x", "parse_folder", "parse_name", "random_scale", "z_zero",
]
