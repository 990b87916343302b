"""A timm-style model registry: ``@register_model`` on a factory, ``create_model(name, ...)``."""

from __future__ import annotations

from collections.abc import Callable

_MODELS: dict[str, Callable] = {}


def register_model(fn: Callable) -> Callable:
    """Register a factory ``fn(**overrides) -> nn.Module`` under its function name."""
    _MODELS[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by :func:`create_model`."""
    return sorted(_MODELS)


def create_model(name: str, num_classes: int = 0, **overrides):
    """Build a registered model.

    Args:
        name: one of :func:`list_models`.
        num_classes: identity classes of the classifier (0: the model returns embeddings).
        **overrides: fields of :class:`~ognet.models.config.OGNetConfig` to change.
    """
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    overrides.pop("name", None)
    return _MODELS[name](num_classes=num_classes, **overrides)
