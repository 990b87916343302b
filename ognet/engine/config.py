"""``TrainConfig``: every setting of a training run, loadable from YAML/JSON with overrides."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    """A training run. Defaults follow the paper (batch 36, Adam amsgrad lr 8e-4, cosine
    schedule with warm-up, dropout 0.7, k = 20, identity cross-entropy).

    Attributes:
        data: prepared dataset folder (Market-1501 layout of ``.npz`` clouds).
        dataset_format: ``auto`` or a name in ``ognet.data.FORMATS``.
        out_dir: where checkpoints, ``train.log`` and ``history.jsonl`` go.
        model: registry name (``ognet``, ``ognet_small``, ``ognet_deep``).
        model_overrides: extra ``OGNetConfig`` fields (e.g. ``{"channels": [16, 32]}``).
        num_points: points per cloud fed to the model (4096 of the 8192 lifted).
        k: neighbours of the dynamic graph; dropout: before the classifier.
        epochs, batch_size, lr, weight_decay, warmup_epochs, min_lr_ratio: optimisation.
        loss: ``ce`` (identity cross-entropy) or ``ce+circle`` (adds the pair-wise circle loss).
        circle_margin, circle_gamma: circle-loss parameters (m, gamma).
        label_smoothing: of the cross-entropy.
        sampler: ``random`` or ``identity`` (P identities x ``num_instances`` per batch).
        scale, jitter_sigma, jitter_clip, flip_prob: augmentations (see ``ognet.data``).
        z_zero: the 2D control of Table I: z set to 0 in training and evaluation.
        eval_every: validate (Rank-1/mAP on query/gallery) every N epochs; 0 disables.
        save_every: write ``last`` every N epochs (always at the end).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``; amp: mixed precision on CUDA.
        workers: DataLoader workers; seed: makes the run deterministic.
        resume: continue from ``out_dir/last`` when it exists.
    """

    data: str = ""
    dataset_format: str = "auto"
    out_dir: str = "runs/ognet"
    model: str = "ognet"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    num_points: int = 4096
    k: int = 20
    dropout: float = 0.7
    epochs: int = 150
    batch_size: int = 36
    lr: float = 8e-4
    weight_decay: float = 5e-4
    warmup_epochs: int = 5
    min_lr_ratio: float = 0.01
    loss: str = "ce"
    circle_margin: float = 0.25
    circle_gamma: float = 64.0
    label_smoothing: float = 0.0
    sampler: str = "random"
    num_instances: int = 4
    scale: tuple[float, float] = (0.9, 1.1)
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.05
    flip_prob: float = 0.5
    z_zero: bool = False
    eval_every: int = 10
    save_every: int = 1
    device: str = "auto"
    amp: bool = True
    workers: int = 2
    seed: int = 0
    resume: bool = False

    def __post_init__(self):
        self.scale = tuple(float(s) for s in self.scale)
        if self.loss not in ("ce", "ce+circle"):
            raise ValueError(f"loss must be 'ce' or 'ce+circle', got {self.loss!r}")
        if self.sampler not in ("random", "identity"):
            raise ValueError(f"sampler must be 'random' or 'identity', got {self.sampler!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")

    @classmethod
    def from_file(cls, path: str | Path, **overrides) -> TrainConfig:
        """Read a ``.yaml``/``.yml``/``.json`` file; ``overrides`` (not None) win."""
        path = Path(path)
        text = path.read_text()
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text) or {}
        else:
            values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError(f"{path}: expected a mapping of TrainConfig fields")
        return cls.from_dict({**values, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def from_dict(cls, values: dict) -> TrainConfig:
        """Build from a dict, rejecting unknown keys with their names."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields: {', '.join(unknown)}")
        return cls(**values)

    def to_dict(self) -> dict:
        """JSON-ready dict (tuples become lists)."""
        return json.loads(json.dumps(dataclasses.asdict(self)))

    def model_kwargs(self) -> dict:
        """Overrides for ``create_model``: ``num_points``, ``k``, ``dropout`` and the extras."""
        return {"num_points": self.num_points, "k": self.k, "dropout": self.dropout,
                **self.model_overrides}
