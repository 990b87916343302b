"""The OG-Net family behind a registry: ``create_model(name, num_classes=0, **overrides)``."""

from ognet.models.config import OGNetConfig
from ognet.models.ognet import AUTHORS_PARAMS, PAPER_PARAMS, OGNet, count_parameters
from ognet.models.registry import create_model, list_models, register_model
from ognet.models.trace import ModelTrace, ModuleTrace

__all__ = [
    "AUTHORS_PARAMS", "OGNet", "OGNetConfig", "ModelTrace", "ModuleTrace", "PAPER_PARAMS",
    "count_parameters", "create_model", "list_models", "register_model",
]
