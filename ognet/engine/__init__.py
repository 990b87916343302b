"""Training, evaluation and checkpoints.

- :func:`train` runs a :class:`TrainConfig`; :func:`evaluate_retrieval` gives Rank-k / mAP.
- :func:`save_checkpoint` / :func:`load_model`: ``X.safetensors`` + ``X.json`` pairs.
"""

from ognet.engine.checkpoint import (
    CheckpointError,
    load_model,
    load_training_state,
    read_checkpoint_meta,
    resolve_device,
    save_checkpoint,
)
from ognet.engine.config import TrainConfig
from ognet.engine.evaluation import evaluate_retrieval, extract_features
from ognet.engine.losses import CircleLoss
from ognet.engine.trainer import lr_factor, train

__all__ = [
    "CheckpointError", "CircleLoss", "TrainConfig", "evaluate_retrieval", "extract_features",
    "load_model", "load_training_state", "lr_factor", "read_checkpoint_meta", "resolve_device",
    "save_checkpoint", "train",
]
