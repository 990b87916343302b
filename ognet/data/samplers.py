"""Identity-balanced sampling: P identities x K instances per batch."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
from torch.utils.data import Sampler


class RandomIdentitySampler(Sampler[int]):
    """Yield indices so that each run of ``batch_size`` holds ``batch_size // num_instances``
    identities with ``num_instances`` items each (items are repeated for identities with fewer).

    An epoch visits every identity's items about once (the torchreid convention). The order
    depends only on ``(seed, epoch)``; call :meth:`set_epoch` before each epoch.

    Args:
        labels: (N,) class of each item.
        batch_size: P * K; must be a multiple of ``num_instances``.
        num_instances: K, items per identity in a batch.
    """

    def __init__(self, labels: Sequence[int], batch_size: int, num_instances: int = 4,
                 seed: int = 0):
        if num_instances < 1 or batch_size % num_instances:
            raise ValueError(f"batch_size ({batch_size}) must be a multiple of num_instances "
                             f"({num_instances})")
        self.by_label: dict[int, list[int]] = defaultdict(list)
        for i, label in enumerate(labels):
            self.by_label[int(label)].append(i)
        self.num_identities = batch_size // num_instances
        if len(self.by_label) < self.num_identities:
            raise ValueError(f"a batch of {batch_size} needs {self.num_identities} identities, "
                             f"the data has {len(self.by_label)}")
        self.num_instances = num_instances
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _chunks(self, rng: np.random.Generator) -> dict[int, list[list[int]]]:
        chunks = {}
        k = self.num_instances
        for label, idx in self.by_label.items():
            idx = np.asarray(idx)
            if len(idx) < k:
                idx = rng.choice(idx, size=k, replace=True)
            idx = rng.permutation(idx)
            n = len(idx) // k * k
            chunks[label] = [idx[j:j + k].tolist() for j in range(0, n, k)]
        return chunks

    def _order(self) -> list[int]:
        rng = np.random.default_rng([self.seed, self.epoch, 7])
        chunks = self._chunks(rng)
        order: list[int] = []
        available = [lab for lab in chunks if chunks[lab]]
        while len(available) >= self.num_identities:
            picked = rng.choice(len(available), size=self.num_identities, replace=False)
            for j in sorted(picked.tolist()):
                order.extend(chunks[available[j]].pop())
            available = [lab for lab in available if chunks[lab]]
        return order

    def __iter__(self) -> Iterator[int]:
        return iter(self._order())

    def __len__(self) -> int:
        return len(self._order())
