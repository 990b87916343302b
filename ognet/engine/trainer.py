"""The training loop: identity classification of prepared clouds (the authors' recipe).

``train(config)`` builds the datasets, the model, Adam (amsgrad) with linear warm-up and a
cosine decay to ``min_lr_ratio`` of the rate (stepped every iteration), runs the epochs with
a tqdm bar, averages the weights of the last ``average_last`` of the epochs, and writes in
``out_dir``:

- ``final``: the model to evaluate and ship: the weight average (batch-norm statistics
  re-estimated on the training data) or, with averaging off, the last epoch's weights.
- ``last``: the latest epoch's weights with the optimizer state, to resume from.
- ``best_val``: only with ``val_identities``: the epoch with the best mAP on the held-out
  training identities.
- ``train.log`` and ``history.jsonl``.

No checkpoint is ever chosen by the test split (Market-1501 has no validation split); with
``eval_every`` and no held-out identities, the test split is evaluated as monitoring only and
logged as ``test_*``.

Fine-tuning: ``config.init`` starts a fresh run from a checkpoint's weights, all but its
identity classifier (new, for this data's identities; ``checkpoint.load_backbone``).

Determinism: the torch RNG is re-seeded from ``(seed, epoch)`` at every epoch and the data
draws depend only on ``(seed, epoch, item)``, so a run resumed from ``last`` continues as the
uninterrupted run would (exactly on CPU).

Data parallel: started by ``torchrun --nproc_per_node N -m ognet train ...``, every process
runs this loop on its share of each global batch under DDP (``ognet.engine.distributed``);
rank 0 alone logs, evaluates and writes checkpoints.
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
from torch.optim.swa_utils import AveragedModel, update_bn
from torch.utils.data import DataLoader
from tqdm import tqdm

from ognet.data import (
    AugmentConfig,
    ClassBalancedSampler,
    DatasetLayoutError,
    PointCloudDataset,
    RandomIdentitySampler,
    hold_out_identities,
    load_dataset,
)
from ognet.engine import distributed
from ognet.engine.checkpoint import (
    checkpoint_paths,
    load_backbone,
    load_state_dict,
    load_training_state,
    read_checkpoint_meta,
    resolve_device,
    save_checkpoint,
)
from ognet.engine.config import TrainConfig
from ognet.engine.evaluation import AMP_DTYPES, evaluate_retrieval
from ognet.engine.losses import CircleLoss

#: What the JSON of each checkpoint says about how it was chosen.
SELECTION = {"final": "the end of training (weight average when averaging is on)",
             "last": "the latest epoch (resume point)",
             "best_val": "best mAP on identities held out of the training split"}


def grad_scaler(config: TrainConfig, device: torch.device) -> torch.amp.GradScaler:
    """The loss scaler of ``config.amp``: active for ``fp16`` only (float16 gradients
    underflow without it; bfloat16 has float32's range)."""
    return torch.amp.GradScaler(device.type, enabled=config.amp == "fp16")


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


def _logger(out_dir: Path, write: bool = True) -> logging.Logger:
    """The run's logger: appends to ``out_dir/train.log``, or discards (``write=False``: the
    processes other than rank 0)."""
    log = logging.getLogger(f"ognet.train.{out_dir.resolve()}")
    log.setLevel(logging.INFO)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    if not write:
        log.addHandler(logging.NullHandler())
        return log
    fh = logging.FileHandler(out_dir / "train.log")
    fh.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    log.addHandler(fh)
    return log


def build_datasets(config: TrainConfig):
    """``(dataset, train_ds, eval_split)``: ``eval_split`` is ``(name, query_ds, gallery_ds)``
    with name ``val`` (held-out training identities) or ``test`` (monitoring only), or
    ``None`` when ``eval_every`` is 0 or the folder has no test split."""
    root = Path(config.data)
    monitor_test = config.eval_every > 0 and config.val_identities == 0
    data = load_dataset(root, config.dataset_format, splits=("train",))
    if monitor_test:
        try:
            data = load_dataset(root, config.dataset_format, splits=("train", "query", "gallery"))
        except DatasetLayoutError as e:
            warnings.warn(f"no test-split monitoring: {e}", stacklevel=2)
    eval_items = None
    if config.val_identities > 0:
        data, val_query, val_gallery = hold_out_identities(data, config.val_identities,
                                                           seed=config.seed)
        eval_items = ("val", val_query, val_gallery)
    elif monitor_test and data.query and data.gallery:
        eval_items = ("test", data.query, data.gallery)
    aug = AugmentConfig(scale=config.scale, jitter_sigma=config.jitter_sigma,
                        jitter_clip=config.jitter_clip, flip_prob=config.flip_prob,
                        isotropic=config.scale_mode == "isotropic")
    train_ds = PointCloudDataset(data.train, data.train_labels, train=True,
                                 num_points=config.num_points, augment_config=aug,
                                 z_zero=config.z_zero, background=config.background,
                                 seed=config.seed)
    eval_split = None
    if eval_items is not None and config.eval_every > 0:
        name, query, gallery = eval_items
        kw = {"num_points": config.num_points, "z_zero": config.z_zero,
              "background": config.background}
        eval_split = (name, PointCloudDataset(query, **kw), PointCloudDataset(gallery, **kw))
    return data, train_ds, eval_split


def build_sampler(config: TrainConfig, labels):
    """The training sampler of ``config.sampler`` (``None`` for plain shuffling)."""
    if config.sampler == "identity":
        return RandomIdentitySampler(labels, config.batch_size, config.num_instances,
                                     seed=config.seed)
    if config.sampler == "balanced":
        return ClassBalancedSampler(labels, config.samples_per_class, seed=config.seed)
    return None


def train(config: TrainConfig, progress: bool = True, stop_epoch: int | None = None) -> dict:
    """Run (or resume) a training run; returns ``{"epoch", "metrics", "checkpoint", ...}``
    (``checkpoint`` is ``final`` once the last epoch is done, else ``last``).

    ``stop_epoch`` ends the run after that epoch (saving ``last``) without changing the
    schedule, as a time-boxed job would; resume it later with ``resume=True``.
    """
    from ognet.models import create_model

    out_dir = Path(config.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx, device = distributed.setup(resolve_device(config.device))
    main = ctx.is_main                              # rank 0 logs, evaluates and saves
    progress = progress and main
    log = _logger(out_dir, write=main)
    seed_everything(config.seed)

    data, train_ds, eval_split = build_datasets(config)
    num_classes = data.num_train_pids
    model = create_model(config.model, num_classes=num_classes, **config.model_kwargs())
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr,
                                 weight_decay=config.weight_decay, amsgrad=True)
    sampler = build_sampler(config, train_ds.labels)
    steps_per_epoch = _num_batches(train_ds, sampler, config.batch_size)
    net, local_batch, local_sampler = distributed.TrainForward(model), config.batch_size, sampler
    if ctx.enabled:        # this process's share of every global batch, under DDP
        local_batch = distributed.local_batch_size(config.batch_size, ctx)
        local_sampler = distributed.DistributedBatchSampler(
            len(train_ds), config.batch_size, ctx.rank, ctx.world_size, sampler, config.seed)
        net = distributed.wrap(model, ctx, device)
    total = steps_per_epoch * config.epochs
    warmup = steps_per_epoch * config.warmup_epochs
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, total, warmup, config.min_lr_ratio))
    scaler = grad_scaler(config, device)
    circle = CircleLoss(config.circle_margin, config.circle_gamma) if "circle" in config.loss \
        else None
    average_start = config.average_start()
    averaged = None                 # AveragedModel once the averaging window has begun

    start_epoch, best_val, history, init_meta = 0, -1.0, [], None
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
        if state.get("averaged"):
            averaged = AveragedModel(model)
            averaged.load_state_dict(state["averaged"])
        start_epoch = int(meta["epoch"])
        best_val = float(state.get("best_val", -1.0))
        log.info("resumed from %s at epoch %d", last, start_epoch)
    else:
        if main:
            (out_dir / "history.jsonl").unlink(missing_ok=True)  # a fresh run, a fresh history
        if config.init:  # fine-tune: the checkpoint's backbone, a new classifier
            init_meta = load_backbone(model, config.init, z_zero=config.z_zero)
            log.info("initialised from %s (all but the classifier; weights sha256 %s)",
                     config.init, init_meta.get("weights_sha256"))

    log.info("config %s", json.dumps(config.to_dict()))
    log.info("%d train items, %d identities, device %s, amp %s", len(train_ds), num_classes,
             device, config.amp)
    if ctx.enabled:
        log.info("data parallel: %d process%s, %d items each per batch of %d", ctx.world_size,
                 "es" if ctx.world_size > 1 else "", local_batch, config.batch_size)
    if eval_split is not None and eval_split[0] == "test":
        log.info("test split evaluated every %d epochs for monitoring only: no checkpoint is "
                 "chosen by it", config.eval_every)
    common = {"train_data": str(config.data), "train_config": config.to_dict(),
              "z_zero": config.z_zero,
              "extra": {"dataset_format": data.format, "background": config.background,
                        "label_to_pid": sorted(data.pid_to_label)}}
    if init_meta is not None:
        common["extra"]["init_weights_sha256"] = init_meta.get("weights_sha256")
    metrics: dict = {}
    end_epoch = config.epochs if stop_epoch is None else min(stop_epoch, config.epochs)
    for epoch in range(start_epoch, end_epoch):
        torch.manual_seed(config.seed * 100003 + epoch + 7919 * ctx.rank)
        metrics = train_one_epoch(model, train_ds, local_sampler, optimizer, scheduler, scaler,
                                  circle, config, device, epoch, progress, net=net,
                                  batch_size=local_batch, ctx=ctx)
        if average_start is not None and epoch >= average_start:
            averaged = averaged if averaged is not None else AveragedModel(model)
            averaged.update_parameters(model)
            metrics["averaged_epochs"] = int(averaged.n_averaged)
        is_last = epoch + 1 == end_epoch
        if main and eval_split is not None and ((epoch + 1) % config.eval_every == 0
                                                or is_last):
            name, query_ds, gallery_ds = eval_split
            ev = evaluate_retrieval(model, query_ds, gallery_ds, batch_size=config.batch_size,
                                    device=device, workers=config.workers, progress=progress,
                                    amp=config.amp)
            metrics.update({f"{name}_{k}": ev[k] for k in ("rank1", "mAP")})
            metrics["ap_mode"] = ev["ap_mode"]
        log.info("epoch %d %s", epoch + 1, json.dumps(metrics))
        history.append({"epoch": epoch + 1, **metrics})
        if not main:
            continue
        with open(out_dir / "history.jsonl", "a") as f:
            f.write(json.dumps({"epoch": epoch + 1, **metrics}) + "\n")
        if progress:
            shown = " ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                             for k, v in metrics.items())
            tqdm.write(f"epoch {epoch + 1}/{config.epochs}: {shown}"
                       + (" (test: monitoring only)" if "test_mAP" in metrics else ""))
        if metrics.get("val_mAP", -1.0) > best_val:
            best_val = metrics["val_mAP"]
            save_checkpoint(out_dir / "best_val.safetensors", model, epoch=epoch + 1,
                            metrics=metrics, **_with_selection(common, "best_val"))
        if (epoch + 1) % config.save_every == 0 or is_last:
            state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                     "scaler": scaler.state_dict() if scaler.is_enabled() else {},
                     "best_val": best_val,
                     "averaged": averaged.state_dict() if averaged is not None else {}}
            save_checkpoint(last, model, epoch=epoch + 1, metrics=metrics,
                            training_state=state, **_with_selection(common, "last"))

    checkpoint = last
    finished = end_epoch == config.epochs
    if finished and (start_epoch < end_epoch or not (out_dir / "final.safetensors").is_file()):
        checkpoint = out_dir / "final.safetensors"
        if main:
            if ctx.enabled:  # rank 0 alone re-estimates batch norm: no SyncBatchNorm there
                distributed.unsync_batchnorm(model)
                if averaged is not None:
                    distributed.unsync_batchnorm(averaged.module)
            checkpoint = save_final(model, averaged, train_ds, config, device, metrics,
                                    common, out_dir, log, progress)
    elif finished:
        checkpoint = out_dir / "final.safetensors"
    distributed.barrier(ctx)        # every process returns after rank 0's last writes
    return {"epoch": end_epoch, "metrics": metrics, "checkpoint": str(checkpoint),
            "history": history, "num_classes": num_classes}


def train_one_epoch(model, train_ds, sampler, optimizer, scheduler, scaler, circle,
                    config: TrainConfig, device: torch.device, epoch: int,
                    progress: bool, net: torch.nn.Module | None = None,
                    batch_size: int | None = None,
                    ctx: distributed.DistContext | None = None) -> dict:
    """One pass over the training loader; returns ``{"loss", "acc", "lr", "epoch_s"}``
    (loss and accuracy over all processes' items).

    ``net``: the forward module (``TrainForward(model)``, in DDP when distributed);
    ``batch_size``: this process's share of ``config.batch_size`` with its ``sampler``.

    Loss: :func:`training_loss`.
    """
    train_ds.set_epoch(epoch)
    if sampler is not None:
        sampler.set_epoch(epoch)
    gen = torch.Generator().manual_seed(config.seed * 100003 + epoch)
    net = net if net is not None else distributed.TrainForward(model)
    loader = DataLoader(train_ds, batch_size=batch_size or config.batch_size, sampler=sampler,
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
        loss, logits = training_step(net, points, labels, optimizer, scaler, circle, config,
                                     ctx)
        scheduler.step()
        n = len(labels)
        sum_loss += loss.item() * n
        correct += int((logits.argmax(1) == labels).sum())
        seen += n
        bar.set_postfix(loss=f"{sum_loss / seen:.4f}", acc=f"{correct / seen:.3f}")
    sum_loss, correct, seen = distributed.all_sum([sum_loss, correct, seen],
                                                  ctx or distributed.DistContext())
    return {"loss": sum_loss / max(seen, 1), "acc": correct / max(seen, 1),
            "lr": optimizer.param_groups[0]["lr"], "epoch_s": time.perf_counter() - t0}


def training_step(net, points: torch.Tensor, labels: torch.Tensor, optimizer, scaler,
                  circle: CircleLoss | None, config: TrainConfig,
                  ctx: distributed.DistContext | None = None):
    """One optimiser step on a batch: the forward ``net(points) -> (embedding, logits)``, in
    float32 or under autocast to ``config.amp``'s dtype (:data:`AMP_DTYPES`),
    :func:`training_loss` (float32), the backward (scaled by ``scaler`` for ``fp16``) and the
    step. Returns the (detached) loss and the logits."""
    dtype = AMP_DTYPES[config.amp]
    with torch.autocast(points.device.type, dtype=dtype, enabled=dtype is not None):
        embedding, logits = net(points)
    loss = training_loss(embedding, logits, labels, circle, config, ctx)
    optimizer.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()
    return loss.detach(), logits.detach()


def training_loss(embedding: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor,
                  circle: CircleLoss | None, config: TrainConfig,
                  ctx: distributed.DistContext | None = None) -> torch.Tensor:
    """This process's loss on its ``b`` items of a global batch of ``B`` (``b = B`` in one
    process): ``CE(classifier(dropout(f)), y)`` averaged over its items (DDP's average over
    processes makes it the global mean), plus, with the circle loss, ``circle(dropout(f), y) /
    B`` over the whole global batch (:func:`distributed.gather_batch`), on the L2-normalised
    embedding after dropout (the authors apply dropout in place, so their circle loss sees the
    dropped-out embedding, and divide it by the batch size).

    Shapes: ``embedding`` (b, D), ``logits`` (b, C), ``labels`` (b,) -> scalar.
    """
    loss = F.cross_entropy(logits.float(), labels, label_smoothing=config.label_smoothing)
    if circle is not None:
        embeddings, all_labels = distributed.gather_batch(
            embedding.float(), labels, ctx or distributed.DistContext())
        loss = loss + circle(embeddings, all_labels) / len(all_labels)
    return loss


def save_final(model, averaged, train_ds, config: TrainConfig, device, metrics: dict,
               common: dict, out_dir: Path, log, progress: bool) -> Path:
    """Write ``final``: the weight average with batch-norm statistics re-estimated over one
    pass of the (augmented) training data, as the authors' ``swa_utils.update_bn``; or the
    model itself when nothing was averaged."""
    final_model, info = model, {"weight_averaged": False}
    if averaged is not None:
        loader = DataLoader(train_ds, batch_size=config.batch_size, shuffle=False,
                            num_workers=config.workers, pin_memory=device.type == "cuda")
        t0 = time.perf_counter()
        update_bn((b["points"] for b in tqdm(loader, desc="update bn", leave=False,
                                             disable=not progress)), averaged, device=device)
        final_model = averaged.module
        info = {"weight_averaged": True, "averaged_epochs": int(averaged.n_averaged),
                "average_from_epoch": config.average_start() + 1,
                "update_bn_s": round(time.perf_counter() - t0, 2)}
        log.info("weights averaged over epochs %d-%d, batch norm re-estimated",
                 config.average_start() + 1, config.epochs)
    common = _with_selection(common, "final")
    common["extra"] = {**common["extra"], **info}
    final_metrics = {k: v for k, v in metrics.items() if k in ("loss", "acc", "lr")}
    return save_checkpoint(out_dir / "final.safetensors", final_model, epoch=config.epochs,
                           metrics=final_metrics, **common)


def _with_selection(common: dict, name: str) -> dict:
    return {**common, "extra": {**common["extra"], "selection": name,
                                "selection_rule": SELECTION[name]}}


def _num_batches(dataset, sampler, batch_size: int) -> int:
    n = len(sampler) if sampler is not None else len(dataset)
    if n < batch_size:
        raise ValueError(f"{n} training items are fewer than one batch of {batch_size}")
    return n // batch_size
