"""Training, evaluation and checkpoints.

- :func:`train` runs a :class:`TrainConfig` (writes ``final``, ``last``, maybe ``best_val``);
  :func:`evaluate_retrieval` gives Rank-k / mAP; :func:`check_not_test_selected` refuses a
  checkpoint chosen on the test split.
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
from ognet.engine.evaluation import (
    AUTHORS_TEST_SCALES,
    check_not_test_selected,
    evaluate_retrieval,
    extract_features,
)
from ognet.engine.losses import CircleLoss
from ognet.engine.trainer import lr_factor, train

__all__ = [
    "AUTHORS_TEST_SCALES", "CheckpointError", "CircleLoss", "TrainConfig",
    "check_not_test_selected", "evaluate_retrieval", "extract_features", "load_model",
    "load_training_state", "lr_factor", "read_checkpoint_meta", "resolve_device",
    "save_checkpoint", "train",
]
