"""The training loop: identity classification of prepared clouds (paper defaults).

``train(config)`` builds the datasets, the model, Adam (amsgrad) with a cosine schedule and
linear warm-up (stepped every iteration), runs the epochs with a tqdm bar (loss, accuracy),
validates Rank-1/mAP every ``eval_every`` epochs, and writes ``last`` (and ``best`` by mAP)
checkpoints in ``out_dir`` together with ``train.log`` and ``history.jsonl``. Determinism:
the torch RNG is re-seeded from ``(seed, epoch)`` at every epoch and the data draws depend
only on ``(seed, epoch, item)``, so a run resumed from ``last`` continues as the uninterrupted
run would (exactly on CPU).
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from ognet.data import (
    AugmentConfig,
    DatasetLayoutError,
    PointCloudDataset,
    RandomIdentitySampler,
    load_dataset,
)
from ognet.engine.checkpoint import (
    checkpoint_paths,
    load_state_dict,
    load_training_state,
    read_checkpoint_meta,
    resolve_device,
    save_checkpoint,
)
from ognet.engine.config import TrainConfig
from ognet.engine.evaluation import evaluate_retrieval
from ognet.engine.losses import CircleLoss


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """Multiplier of the base lr at iteration ``step``: linear warm-up then cosine decay to
    ``min_ratio``."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    span = max(1, total_steps - warmup_steps)
    t = min(1.0, (step - warmup_steps) / span)
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * t))


def _logger(out_dir: Path) -> logging.Logger:
    log = logging.getLogger(f"ognet.train.{out_dir.resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fh = logging.FileHandler(out_dir / "train.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(fh)
    return log


def build_datasets(config: TrainConfig):
    """``(dataset, train_ds, query_ds, gallery_ds)``; query/gallery are ``None`` when the folder
    has no evaluation split or ``eval_every`` is 0."""
    want_eval = config.eval_every > 0
    root = Path(config.data)
    splits = ("train", "query", "gallery") if want_eval else ("train",)
    try:
        data = load_dataset(root, config.dataset_format, splits=splits)
    except DatasetLayoutError as e:
        if not want_eval:
            raise
        data = load_dataset(root, config.dataset_format, splits=("train",))
        warnings.warn(f"no validation: {e}", stacklevel=2)
    aug = AugmentConfig(scale=config.scale, jitter_sigma=config.jitter_sigma,
                        jitter_clip=config.jitter_clip, flip_prob=config.flip_prob)
    train_ds = PointCloudDataset(data.train, data.train_labels, train=True,
                                 num_points=config.num_points, augment_config=aug,
                                 z_zero=config.z_zero, seed=config.seed)
    query_ds = gallery_ds = None
    if want_eval and data.query and data.gallery:
        query_ds = PointCloudDataset(data.query, num_points=config.num_points,
                                     z_zero=config.z_zero)
        gallery_ds = PointCloudDataset(data.gallery, num_points=config.num_points,
                                       z_zero=config.z_zero)
    return data, train_ds, query_ds, gallery_ds


def train(config: TrainConfig, progress: bool = True, stop_epoch: int | None = None) -> dict:
    """Run (or resume) a training run; returns ``{"epoch", "metrics", "checkpoint", ...}``.

    ``stop_epoch`` ends the run after that epoch (saving ``last``) without changing the
    schedule, as a time-boxed job would; resume it later with ``resume=True``.
    """
    from ognet.models import create_model

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = _logger(out_dir)
    device = resolve_device(config.device)
    use_amp = config.amp and device.type == "cuda"
    seed_everything(config.seed)

    data, train_ds, query_ds, gallery_ds = build_datasets(config)
    num_classes = data.num_train_pids
    model = create_model(config.model, num_classes=num_classes, **config.model_kwargs())
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay, amsgrad=True)
    if config.sampler == "identity":
        sampler = RandomIdentitySampler(train_ds.labels, config.batch_size,
                                        config.num_instances, seed=config.seed)
    else:
        sampler = None
    steps_per_epoch = _num_batches(train_ds, sampler, config.batch_size)
    total = steps_per_epoch * config.epochs
    warmup = steps_per_epoch * config.warmup_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warmup, config.min_lr_ratio))
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    circle = CircleLoss(config.circle_margin, config.circle_gamma) if "circle" in config.loss \
        else None

    start_epoch, best_map, history = 0, -1.0, []
    last = out_dir / "last.safetensors"
    if config.resume and last.is_file():
        meta = read_checkpoint_meta(last)
        model.load_state_dict(load_state_dict(last))
        state = load_training_state(last)
        if state is None:
            raise FileNotFoundError(f"{checkpoint_paths(last)[2]}: no training state to resume")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        if state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        start_epoch = int(meta["epoch"])
        best_map = float(state.get("best_map", -1.0))
        log.info("resumed from %s at epoch %d", last, start_epoch)
    else:
        (out_dir / "history.jsonl").unlink(missing_ok=True)   # a fresh run, a fresh history

    log.info("config %s", json.dumps(config.to_dict()))
    log.info("%d train items, %d identities, device %s, amp %s", len(train_ds), num_classes,
             device, use_amp)
    metrics: dict = {}
    end_epoch = config.epochs if stop_epoch is None else min(stop_epoch, config.epochs)
    for epoch in range(start_epoch, end_epoch):
        torch.manual_seed(config.seed * 100003 + epoch)
        train_ds.set_epoch(epoch)
        if sampler is not None:
            sampler.set_epoch(epoch)
        gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
        loader = DataLoader(train_ds, batch_size=config.batch_size, sampler=sampler,
                            shuffle=sampler is None, generator=gen, drop_last=True,
                            num_workers=config.workers, pin_memory=device.type == "cuda")
        model.train()
        t0 = time.perf_counter()
        sum_loss, correct, seen = 0.0, 0, 0
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{config.epochs}", leave=False,
                   disable=not progress)
        for batch in bar:
            points = batch["points"].to(device, non_blocking=True)
            labels = batch["label"].to(device, non_blocking=True)
            with torch.autocast(device.type, dtype=torch.float16, enabled=use_amp):
                features = model.forward_features(points)
                logits = model.forward_head(features)
            loss = F.cross_entropy(logits.float(), labels,
                                   label_smoothing=config.label_smoothing)
            if circle is not None:
                loss = loss + circle(features.float(), labels)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            n = len(labels)
            sum_loss += loss.item() * n
            correct += int((logits.argmax(1) == labels).sum())
            seen += n
            bar.set_postfix(loss=f"{sum_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
        metrics = {"loss": sum_loss / max(seen, 1), "acc": correct / max(seen, 1),
                   "lr": optimizer.param_groups[0]["lr"], "epoch_s": time.perf_counter() - t0}
        is_last = epoch + 1 == end_epoch
        if query_ds is not None and ((epoch + 1) % config.eval_every == 0 or is_last):
            ev = evaluate_retrieval(model, query_ds, gallery_ds, batch_size=config.batch_size,
                                    device=device, workers=config.workers, progress=progress)
            metrics.update({k: ev[k] for k in ("rank1", "rank5", "rank10", "mAP")})
        log.info("epoch %d %s", epoch + 1, json.dumps(metrics))
        history.append({"epoch": epoch + 1, **metrics})
        with open(out_dir / "history.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch + 1, **metrics}) + "\n")
        if progress:
            shown = " ".join(f"{k} {v:.4g}" for k, v in metrics.items())
            tqdm.write(f"epoch {epoch + 1}/{config.epochs}: {shown}")
        common = {"epoch": epoch + 1, "metrics": metrics, "train_data": str(config.data),
                  "train_config": config.to_dict(), "z_zero": config.z_zero,
                  "extra": {"dataset_format": data.format,
                            "label_to_pid": sorted(data.pid_to_label)}}
        if "mAP" in metrics and metrics["mAP"] > best_map:
            best_map = metrics["mAP"]
            save_checkpoint(out_dir / "best.safetensors", model, **common)
        if (epoch + 1) % config.save_every == 0 or is_last:
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict() if use_amp else {}, "best_map": best_map}
            save_checkpoint(last, model, training_state=state, **common)
    return {"epoch": end_epoch, "metrics": metrics, "checkpoint": str(last),
            "history": history, "num_classes": num_classes}


def _num_batches(dataset, sampler, batch_size: int) -> int:
    n = len(sampler) if sampler is not None else len(dataset)
    if n < batch_size:
        raise ValueError(f"{n} training items are fewer than one batch of {batch_size}")
    return n // batch_size
