"""``TrainConfig``: every setting of a training run, loadable from YAML/JSON with overrides."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Precisions of training and evaluation (``TrainConfig.amp``, ``--amp``): ``off`` is float32
#: throughout, as the authors train; ``bf16`` / ``fp16`` autocast the layers to bfloat16 /
#: float16 (``fp16`` with a gradient scaler). Graph distances stay float32 either way
#: (``ognet.ops``).
AMP_MODES = ("off", "bf16", "fp16")
#: Scale augmentations (``TrainConfig.scale_mode``): the authors' ``per_axis``, or
#: ``isotropic``.
SCALE_MODES = ("per_axis", "isotropic")


@dataclass
class TrainConfig:
    """A training run. Defaults follow the paper and the authors' ``train_M.py``: batch 36,
    Adam (amsgrad) lr 8e-4 (the paper; the authors' commands use 1e-3 or 6e-4, see
    ``configs/``), weight decay 5e-4, 1000 epochs, cosine decay to 1% of the rate after a
    10-epoch warm-up, weights averaged over the last 10% of the epochs, dropout 0.7, k = 20,
    identity cross-entropy, per-axis scale U(0.75, 1.33), jitter 0.01 clipped at 0.01, x-flip.

    Warm-up: the authors scale the *loss* from 0.1 to 1 over the warm-up epochs; under Adam a
    loss scale barely changes the step (Adam divides by the gradient's magnitude), so we ramp
    the *learning rate* linearly instead, which is what the authors' warm-up is meant to do.

    Attributes:
        data: prepared dataset folder (Market-1501 layout of ``.npz`` clouds).
        dataset_format: ``auto`` or a name in ``ognet.data.FORMATS``.
        out_dir: where checkpoints, ``train.log`` and ``history.jsonl`` go.
        model: registry name (``ognet``, ``ognet_small``, ``ognet_deep``).
        model_overrides: extra ``OGNetConfig`` fields (e.g. ``{"channels": [16, 32]}``).
        num_points: points per cloud fed to the model (4096 of the 8192 lifted).
        k: neighbours of the dynamic graph (20; OG-Net-Deep 9); dropout: before the classifier.
        epochs, batch_size, lr, weight_decay, warmup_epochs, min_lr_ratio: optimisation.
        average_last: fraction of the epochs, at the end, whose weights are averaged
            (``torch.optim.swa_utils.AveragedModel``, one sample per epoch, batch-norm
            statistics re-estimated on the training data afterwards): the authors'
            ``--wa --wa_start 0.9`` is 0.1; 0 disables it.
        loss: ``ce`` (identity cross-entropy) or ``ce+circle`` (adds the circle loss on the
            L2-normalised embedding after dropout, divided by the batch size, as the authors).
        circle_margin, circle_gamma: circle-loss parameters (m, gamma).
        label_smoothing: of the cross-entropy.
        sampler: ``random`` (shuffle), ``balanced`` (every identity equally likely: the
            authors' ``--balance``, or ``--class K`` with ``samples_per_class: K``) or
            ``identity`` (P identities x ``num_instances`` per batch).
        samples_per_class: ``balanced`` only: 0 draws independently, K > 0 draws every
            identity exactly K times per pass.
        scale, jitter_sigma, jitter_clip, flip_prob: augmentations (see ``ognet.data``).
        scale_mode: ``per_axis`` (the authors': x, y and z scaled by independent factors) or
            ``isotropic`` (one factor: proportions kept; a named difference for the study of
            issue 23, argued in ``ognet.data.transforms``).
        z_zero: the 2D control of Table I: z set to 0 in training and evaluation.
        background: keep the background points (the paper's 3D + background); ``False``
            trains and evaluates on the person's points only (a study arm: the app and
            ``index`` refuse such a checkpoint).
        val_identities: hold out this many training identities as a validation split (their
            images split into query and gallery) for model selection: ``best_val`` is the
            checkpoint with the best validation mAP. 0: train on all identities.
        eval_every: every N epochs evaluate Rank-1/mAP on the validation identities, or, with
            ``val_identities`` 0, on the test split as monitoring only (logged as ``test_*``,
            never used to choose a checkpoint); 0 disables it.
        save_every: write ``last`` every N epochs (always at the end).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``.
        amp: ``off`` (default: float32, as the authors), ``bf16`` or ``fp16``: mixed
            precision (:data:`AMP_MODES`), on any device (``bf16`` is the one worth trying on
            a CPU). k-NN, FPS and ball-query distances are float32 in every mode.
        workers: DataLoader workers; seed: makes the run deterministic.
        resume: continue from ``out_dir/last`` when it exists.
        init: fine-tune: start from this checkpoint's weights (``X.safetensors``), all but
            its identity classifier, which is new (the training data's identities); the
            architecture must be the checkpoint's (``ognet.engine.checkpoint.load_backbone``).
            Ignored when resuming from ``last``. Empty: random initialisation.
    """

    data: str = ""
    dataset_format: str = "auto"
    out_dir: str = "runs/ognet"
    model: str = "ognet"
    model_overrides: dict[str, Any] = field(default_factory=dict)
    num_points: int = 4096
    k: int = 20
    dropout: float = 0.7
    epochs: int = 1000
    batch_size: int = 36
    lr: float = 8e-4
    weight_decay: float = 5e-4
    warmup_epochs: int = 10
    min_lr_ratio: float = 0.01
    average_last: float = 0.1
    loss: str = "ce"
    circle_margin: float = 0.25
    circle_gamma: float = 64.0
    label_smoothing: float = 0.0
    sampler: str = "random"
    samples_per_class: int = 0
    num_instances: int = 4
    scale: tuple[float, float] = (0.75, 1.33)
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.01
    flip_prob: float = 0.5
    scale_mode: str = "per_axis"
    z_zero: bool = False
    background: bool = True
    val_identities: int = 0
    eval_every: int = 0
    save_every: int = 1
    device: str = "auto"
    amp: str = "off"
    workers: int = 2
    seed: int = 0
    resume: bool = False
    init: str = ""

    def __post_init__(self):
        self.scale = tuple(float(s) for s in self.scale)
        if self.amp is True:
            raise ValueError("amp: true is no longer a setting (it meant float16 on CUDA): "
                             "training is float32 by default, as the authors'; say amp: bf16 "
                             "or amp: fp16 for mixed precision")
        if self.amp is False or self.amp is None:  # YAML reads `amp: off` as false
            self.amp = "off"
        if self.amp not in AMP_MODES:
            raise ValueError(f"amp must be one of {', '.join(AMP_MODES)}, got {self.amp!r}")
        if self.scale_mode not in SCALE_MODES:
            raise ValueError(f"scale_mode must be one of {', '.join(SCALE_MODES)}, got "
                             f"{self.scale_mode!r}")
        if self.loss not in ("ce", "ce+circle"):
            raise ValueError(f"loss must be 'ce' or 'ce+circle', got {self.loss!r}")
        if self.sampler not in ("random", "balanced", "identity"):
            raise ValueError(f"sampler must be 'random', 'balanced' or 'identity', "
                             f"got {self.sampler!r}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be positive")
        if not 0.0 <= self.average_last < 1.0:
            raise ValueError(f"average_last must be in [0, 1), got {self.average_last}")
        if self.val_identities < 0 or self.samples_per_class < 0:
            raise ValueError("val_identities and samples_per_class must be >= 0")

    def average_start(self) -> int | None:
        """First epoch (0-based) whose weights enter the average; ``None`` when not averaging.
        At least one epoch is averaged when ``average_last > 0``."""
        if self.average_last <= 0:
            return None
        return self.epochs - max(1, round(self.average_last * self.epochs))

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
