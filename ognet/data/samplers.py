"""Identity-balanced sampling: P identities x K instances per batch, and the authors'
class-balanced draws (every identity equally likely)."""

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


class ClassBalancedSampler(Sampler[int]):
    """Class-balanced sampling as the authors' ``--balance`` / ``--class K`` options: every
    identity is equally likely, however many images it has.

    - ``per_class=0`` (``--balance``): N independent draws with replacement, each item with
      probability ``1 / (C * count(its class))`` (``WeightedRandomSampler`` with weights
      ``N / count``), N the number of items.
    - ``per_class=K`` (``--class K``): passes in which every class appears exactly K times
      (a random item of it each time) in random order, ``ceil(N / (C * K))`` passes per epoch
      (the authors' inner loop), about N draws in all.

    The draws depend only on ``(seed, epoch)``; call :meth:`set_epoch` before each epoch.
    Items drawn twice in an epoch are augmented alike (their randomness depends on the item).

    Args:
        labels: (N,) class of each item.
        per_class: K, or 0 for independent draws.
    """

    def __init__(self, labels: Sequence[int], per_class: int = 0, seed: int = 0):
        if per_class < 0:
            raise ValueError(f"per_class must be >= 0, got {per_class}")
        self.labels = np.asarray(labels, dtype=np.int64)
        if len(self.labels) == 0:
            raise ValueError("no training items to sample")
        self.classes, self.inverse, self.counts = np.unique(
            self.labels, return_inverse=True, return_counts=True)
        self.members = [np.flatnonzero(self.inverse == c) for c in range(len(self.classes))]
        self.per_class = per_class
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        n, c, k = len(self.labels), len(self.classes), self.per_class
        return n if k == 0 else -(-n // (c * k)) * c * k

    def _order(self) -> np.ndarray:
        rng = np.random.default_rng([self.seed, self.epoch, 11])
        c = len(self.classes)
        if self.per_class == 0:
            classes = rng.integers(c, size=len(self))
        else:
            passes = len(self) // (c * self.per_class)
            classes = np.concatenate([rng.permutation(np.repeat(np.arange(c), self.per_class))
                                      for _ in range(passes)])
        pick = (rng.random(len(classes)) * self.counts[classes]).astype(np.int64)
        return np.array([self.members[cl][j] for cl, j in zip(classes, pick, strict=True)],
                        dtype=np.int64)

    def __iter__(self) -> Iterator[int]:
        return iter(self._order().tolist())
