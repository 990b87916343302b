"""Checkpoints: ``X.safetensors`` (weights) + ``X.json`` (what is needed to rebuild and trust it).

The JSON holds the format version, the model config (``dataclasses.asdict(model.config)``),
the number of classes, the input points and transform (``z_zero``), the training data path,
metrics, the epoch, the training config and the SHA-256 of the weights file, so a weights
file that does not belong to its JSON is caught. Both files are written to temporary names
and renamed (atomic on POSIX). Optimizer / scheduler / scaler state for resuming goes to
``X.state.pt`` (tensors and plain containers only; read with ``weights_only=True``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

FORMAT = "ognet-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupted, or does not match its config / the model."""


def checkpoint_paths(path: str | os.PathLike) -> tuple[Path, Path, Path]:
    """``(weights .safetensors, config .json, training state .state.pt)`` for any of the three
    names or the bare stem."""
    p = Path(path)
    name = p.name
    for suffix in (".safetensors", ".json", ".state.pt"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    base = p.with_name(name)
    return (base.with_name(name + ".safetensors"), base.with_name(name + ".json"),
            base.with_name(name + ".state.pt"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_write(path: Path, write) -> None:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist")
                                 else str(o)))


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, *,
                    epoch: int | None = None, metrics: dict | None = None,
                    train_data: str | None = None, train_config: dict | None = None,
                    z_zero: bool = False, extra: dict | None = None,
                    training_state: dict | None = None) -> Path:
    """Write ``path`` (``.safetensors``) and its ``.json`` atomically; returns the weights path.

    Args:
        model: an OG-Net (its ``config`` dataclass is saved); weights are saved from CPU copies.
        epoch, metrics, train_data, train_config: recorded in the JSON.
        z_zero: the model was trained on clouds with z = 0 (evaluation must do the same).
        extra: more JSON-ready fields.
        training_state: optimizer / scheduler / scaler state dicts to resume from, written to
            ``.state.pt`` with ``torch.save``.
    """
    from safetensors.torch import save_file

    weights, config_path, state_path = checkpoint_paths(path)
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    _atomic_write(weights, lambda tmp: save_file(state, str(tmp), metadata={"format": "pt"}))
    cfg = model.config
    meta = {
        "format": FORMAT,
        "version": VERSION,
        "model": _jsonable(dataclasses.asdict(cfg)),
        "num_classes": int(cfg.num_classes),
        "input_points": int(cfg.num_points),
        "z_zero": bool(z_zero),
        "train_data": train_data,
        "epoch": epoch,
        "metrics": _jsonable(metrics or {}),
        "train_config": _jsonable(train_config or {}),
        "weights_file": weights.name,
        "weights_sha256": _sha256(weights),
        "saved_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "ognet_version": _version(),
        **(_jsonable(extra) if extra else {}),
    }
    _atomic_write(config_path, lambda tmp: tmp.write_text(json.dumps(meta, indent=2) + "\n"))
    if training_state is not None:
        _atomic_write(state_path, lambda tmp: torch.save(training_state, tmp))
    return weights


def _version() -> str:
    import ognet

    return ognet.__version__


def read_checkpoint_meta(path: str | os.PathLike) -> dict:
    """The JSON beside a checkpoint, checked for format and version."""
    weights, config_path, _ = checkpoint_paths(path)
    if not config_path.is_file():
        raise CheckpointError(f"{config_path}: checkpoint config not found (a checkpoint is "
                              f"{weights.name} plus {config_path.name})")
    try:
        meta = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CheckpointError(f"{config_path}: not valid JSON ({e})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{config_path}: not an ognet checkpoint config")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{config_path}: checkpoint format version {meta.get('version')}, "
                              f"this ognet reads version {VERSION}")
    return meta


def load_state_dict(path: str | os.PathLike, verify: bool = True) -> dict[str, torch.Tensor]:
    """The weights of a checkpoint (CPU tensors), checked against the JSON's SHA-256."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    weights, _, _ = checkpoint_paths(path)
    if not weights.is_file():
        raise CheckpointError(f"{weights}: checkpoint weights not found")
    meta = read_checkpoint_meta(path)
    if verify and meta.get("weights_sha256") and _sha256(weights) != meta["weights_sha256"]:
        raise CheckpointError(f"{weights}: weights do not match {weights.with_suffix('.json').name}"
                              " (corrupted, or from another checkpoint)")
    try:
        return load_file(str(weights), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise CheckpointError(f"{weights}: corrupted safetensors file ({e})") from None


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/``auto`` -> CUDA when available else CPU; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but is not available")
    return device


def load_model(path: str | os.PathLike, device: str | torch.device | None = None,
               num_classes: int | None = None) -> torch.nn.Module:
    """Rebuild the model of a checkpoint pair, load its weights, return it in eval mode.

    Args:
        path: ``X.safetensors``, ``X.json`` or ``X``.
        device: default CUDA when available, else CPU.
        num_classes: ``0`` drops the classifier (feature extraction only); default: as saved.

    The checkpoint's JSON is attached as ``model.checkpoint_meta``.

    Raises:
        CheckpointError: missing, corrupted, or mismatched files or weights.
    """
    from ognet.models import create_model

    meta = read_checkpoint_meta(path)
    state = load_state_dict(path)
    cfg = dict(meta["model"])
    name = cfg.pop("name", None)
    saved_classes = int(cfg.pop("num_classes", meta.get("num_classes", 0)))
    try:
        model = create_model(name, num_classes=saved_classes, **cfg)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{checkpoint_paths(path)[1]}: cannot rebuild model {name!r} "
                              f"({e})") from None
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        detail = "; ".join(f"{label}: {', '.join(keys[:5])}{' ...' if len(keys) > 5 else ''}"
                           for label, keys in (("missing", missing), ("unexpected", unexpected),
                                               ("wrong shape", wrong)) if keys)
        raise CheckpointError(f"{checkpoint_paths(path)[0]}: weights do not match the "
                              f"{name} model of its config ({detail})")
    model.load_state_dict(state)
    if num_classes == 0 and getattr(model, "classifier", None) is not None:
        model.classifier = None
        model.config.num_classes = 0
    model.checkpoint_meta = meta
    return model.to(resolve_device(device)).eval()


def load_training_state(path: str | os.PathLike) -> dict | None:
    """The ``.state.pt`` beside a checkpoint (``None`` when absent), read with weights_only."""
    state_path = checkpoint_paths(path)[2]
    if not state_path.is_file():
        return None
    try:
        return torch.load(state_path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a damaged file
        raise CheckpointError(f"{state_path}: cannot read training state ({e})") from None


#: Model fields an ``--init`` checkpoint may differ in from the model it starts: the
#: classifier is new (the fine-tuning data's identities) and dropout acts in training only.
INIT_FREE_FIELDS = ("num_classes", "dropout")


def load_backbone(model: torch.nn.Module, path: str | os.PathLike,
                  z_zero: bool = False) -> dict:
    """Start ``model`` from a checkpoint's weights, all but its identity classifier, in place
    (fine-tuning: ``python -m ognet train --init X.safetensors``); returns the checkpoint's
    JSON. ``model.classifier`` keeps its fresh initialisation (its identities are not the
    checkpoint's).

    The architecture must be the checkpoint's: every field of the model config but
    ``INIT_FREE_FIELDS`` equal (``num_points``, ``stage_points`` and ``k`` included: they do
    not change the weights' shapes but do change what the weights compute), and the input
    the same (``z_zero``: a 2D control fine-tunes only as a 2D control).

    Raises:
        CheckpointError: missing or corrupted files, or an architecture or input that differs
            (the message names each field with both values).
    """
    meta = read_checkpoint_meta(path)
    saved = {k: v for k, v in meta["model"].items() if k not in INIT_FREE_FIELDS}
    wanted = {k: v for k, v in _jsonable(dataclasses.asdict(model.config)).items()
              if k not in INIT_FREE_FIELDS}
    diff = [f"{k}: checkpoint {saved.get(k)!r}, this run {wanted.get(k)!r}"
            for k in sorted(set(saved) | set(wanted)) if saved.get(k) != wanted.get(k)]
    if bool(meta.get("z_zero", False)) != bool(z_zero):
        diff.append(f"z_zero: checkpoint {bool(meta.get('z_zero'))}, this run {bool(z_zero)}")
    if diff:
        raise CheckpointError(
            f"{checkpoint_paths(path)[0]}: --init needs the checkpoint's architecture and "
            f"input, and this run differs in {'; '.join(diff)} (set them with --model, "
            "--num-points, --k, --set FIELD=VALUE or --z-zero as the checkpoint's JSON says)")
    state = {k: v for k, v in load_state_dict(path).items()
             if not k.startswith("classifier.")}
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith("classifier.")}
    wrong = sorted(k for k in set(expected) | set(state)
                   if k not in expected or k not in state or expected[k].shape != state[k].shape)
    if wrong:
        more = " ..." if len(wrong) > 5 else ""
        raise CheckpointError(f"{checkpoint_paths(path)[0]}: weights do not match the model of "
                              f"its config ({', '.join(wrong[:5])}{more})")
    missing, _ = model.load_state_dict(state, strict=False)
    assert all(k.startswith("classifier.") for k in missing), missing
    return meta
