"""Data-parallel training under ``torchrun``: PyTorch DDP, nothing of our own beyond the glue.

``torchrun --nproc_per_node N -m ognet train ...`` starts N processes with ``RANK``,
``LOCAL_RANK`` and ``WORLD_SIZE`` in their environment; :func:`setup` joins them into one
process group (NCCL on GPUs, one GPU per process; gloo on CPUs). Multi-node runs use
torchrun's own rendezvous (``--nnodes``, ``--rdzv-backend c10d --rdzv-endpoint HOST:PORT``).

What changes against one process (everything else is the same code path):

- The recipe's ``batch_size`` stays the *global* batch: each of the W processes takes
  ``batch_size / W`` items of every global batch (:class:`DistributedBatchSampler`), so the
  sequence of global batches, the number of steps and the learning-rate schedule are those
  of one process, and DDP's gradient average over processes equals the one-process gradient
  of the mean loss (up to the order of float sums), batch norm and the circle loss included
  (below).
- The circle loss pairs every item with every other of the *global* batch, as one process
  (and the authors' ``DataParallel``, which gathers the outputs before the loss) does:
  :func:`gather_batch` collects the embeddings of all processes with PyTorch's
  differentiable ``all_gather_single``, whose backward returns to each process the
  sum of all processes' gradients for its own rows. Every process computes the same global
  circle loss ``C``, so its rows receive ``W * dC/de`` and DDP's average over the ``W``
  processes gives exactly the one-process gradient (tested).
- Batch norm uses the statistics of the global batch, as in one process: PyTorch's
  ``torch.nn.SyncBatchNorm`` on CUDA; on CPUs, where that class does not run (it requires a
  GPU), :class:`CPUSyncBatchNorm`, the same computation written with PyTorch's
  differentiable collectives (tested: two processes give the one-process gradient in
  training mode). Measured before it existed (BENCHMARKS.md, "Data-parallel training"):
  with per-process statistics the training loss was above one process's at every epoch.
- Dropout masks are drawn per process (seeded with the rank), not as one process would.
- Only rank 0 writes checkpoints, ``train.log`` and ``history.jsonl`` and evaluates; every
  rank reads the same ``last`` checkpoint to resume.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed._functional_collectives as funcol  # differentiable collectives
from torch.utils.data import Sampler


@dataclass(frozen=True)
class DistContext:
    """Where this process stands: ``rank`` of ``world_size``; ``enabled`` when it joined a
    process group (launched by torchrun), so it trains under DDP, also as the only process
    of ``torchrun --nproc_per_node 1`` (as PyTorch runs DDP: that is how its overhead over
    a plain process is measured, ``benchmarks/bench_epoch.py``)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    enabled: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def launched_by_torchrun() -> bool:
    """``True`` in a process started by torchrun (which sets ``TORCHELASTIC_RUN_ID``), or by
    another launcher of several processes that sets ``WORLD_SIZE``."""
    return "TORCHELASTIC_RUN_ID" in os.environ or int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(device: torch.device) -> tuple[DistContext, torch.device]:
    """Join torchrun's process group when launched by it; returns the context and the device
    this process uses (``cuda:LOCAL_RANK`` for a CUDA ``device``); otherwise unchanged."""
    if not launched_by_torchrun():
        return DistContext(), device
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if device.type == "cuda":
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if not dist.is_initialized():  # generous timeout: the others wait while rank 0 evaluates
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo",
                                timeout=datetime.timedelta(hours=2))
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, True), device


def shutdown() -> None:
    """Leave the process group (after a final barrier) when one was joined; at the end of
    the program, as ``python -m ognet train`` does (a process may train several times in
    one group, as a run and its resumption)."""
    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def barrier(ctx: DistContext) -> None:
    if ctx.enabled:
        dist.barrier()


def local_batch_size(batch_size: int, ctx: DistContext) -> int:
    """``batch_size / world_size``; ``ValueError`` unless it divides evenly."""
    if batch_size % ctx.world_size:
        raise ValueError(f"the batch of {batch_size} does not split into {ctx.world_size} "
                         "equal parts (one per process): choose a multiple of it")
    return batch_size // ctx.world_size


class TrainForward(torch.nn.Module):
    """The training forward pass as one module, so DDP can wrap it (DDP synchronises the
    gradients of what runs through its ``forward``): points (B, N, 6) -> ``(embedding after
    dropout (B, D), logits (B, C))``."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        embedding = self.model.dropout(self.model.forward_features(points))
        return embedding, self.model.classifier(embedding)


class CPUSyncBatchNorm(torch.nn.BatchNorm1d):
    """``BatchNorm1d`` over the rows of every process's batch together, for CPU processes.

    In training mode, for this process's rows ``x`` (n, C) of a global batch of ``N`` rows
    (``N`` summed over the processes):

        ``mu = sum_all(x) / N``, ``var = sum_all((x - mu)^2) / N`` (two passes, as one process),
        ``y = (x - mu) / sqrt(var + eps) * gamma + beta``,

    the sums all-reduced with ``torch.distributed._functional_collectives.all_reduce``, whose
    backward all-reduces the gradient, so autograd gives every process its rows' share of
    the global-batch gradient (the role of ``SyncBatchNorm``'s hand-written backward on GPUs).
    Running statistics follow ``BatchNorm1d`` (momentum, unbiased variance). In eval mode,
    outside a process group, or in a group of one process (as ``SyncBatchNorm`` does: there is
    nothing to synchronise), it is ``BatchNorm1d``. OG-Net's batch norms all see (rows, C).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        if x.dim() != 2:
            raise ValueError(f"CPUSyncBatchNorm takes (rows, C), got {tuple(x.shape)}")
        group = dist.group.WORLD
        sums = funcol.all_reduce(torch.cat([x.sum(0), x.new_full((1,), x.shape[0])]),
                                 "sum", group)
        n = sums[-1].detach()
        mean = sums[:-1] / n
        centred = x - mean
        var = funcol.all_reduce((centred * centred).sum(0), "sum", group) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = (self.momentum if self.momentum is not None
                     else 1.0 / float(self.num_batches_tracked))
                self.running_mean.lerp_(mean, m)
                self.running_var.lerp_(var * n / (n - 1).clamp_min(1), m)
        return centred * torch.rsqrt(var + self.eps) * self.weight + self.bias


def convert_cpu_sync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``BatchNorm1d`` below ``module`` by a :class:`CPUSyncBatchNorm` holding
    the same parameters and statistics, in place; returns ``module``."""
    for name, child in module.named_children():
        if type(child) is torch.nn.BatchNorm1d:
            setattr(module, name, _same_batchnorm(child, CPUSyncBatchNorm))
        else:
            convert_cpu_sync_batchnorm(child)
    return module


def _same_batchnorm(bn: torch.nn.Module, cls) -> torch.nn.Module:
    """A ``cls`` batch norm sharing ``bn``'s parameters and running statistics."""
    new = cls(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    if bn.affine:
        new.weight, new.bias = bn.weight, bn.bias
    if bn.track_running_stats:
        new.running_mean, new.running_var = bn.running_mean, bn.running_var
        new.num_batches_tracked = bn.num_batches_tracked
    new.train(bn.training)
    return new


def wrap(model: torch.nn.Module, ctx: DistContext, device: torch.device) -> torch.nn.Module:
    """``TrainForward(model)``, in DDP when distributed, its batch norms synchronised in
    place (``SyncBatchNorm`` on CUDA, :class:`CPUSyncBatchNorm` on CPUs: ``model`` itself
    keeps the weights to save and evaluate)."""
    forward = TrainForward(model)
    if not ctx.enabled:
        return forward
    if device.type == "cuda":
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(forward)   # replaces children in place
    else:
        convert_cpu_sync_batchnorm(forward)
    return torch.nn.parallel.DistributedDataParallel(
        forward, device_ids=[device.index] if device.type == "cuda" else None)


def unsync_batchnorm(module: torch.nn.Module) -> torch.nn.Module:
    """Replace every ``SyncBatchNorm`` or :class:`CPUSyncBatchNorm` below ``module`` by a
    ``BatchNorm1d`` (OG-Net's only kind) holding the same parameters and statistics, in
    place; returns ``module``.

    For work done by one process after training (re-estimating the statistics of the weight
    average on rank 0), where a synchronised batch norm in training mode would wait for the
    others.
    """
    for name, child in module.named_children():
        if isinstance(child, torch.nn.SyncBatchNorm | CPUSyncBatchNorm):
            setattr(module, name, _same_batchnorm(child, torch.nn.BatchNorm1d))
        else:
            unsync_batchnorm(child)
    return module


def gather_batch(embedding: torch.Tensor, labels: torch.Tensor,
                 ctx: DistContext) -> tuple[torch.Tensor, torch.Tensor]:
    """The global batch on every process: this process's ``embedding`` (b, D) and ``labels``
    (b,) -> all processes' (W * b, D) and (W * b,), in rank order (the one-process batch
    order, see :class:`DistributedBatchSampler`). Gradients flow back to this process's rows
    (``torch.distributed._functional_collectives.all_gather_single`` sums the gradients every
    process computes for them; gloo and NCCL); labels carry none. Unchanged with one
    process."""
    if not ctx.enabled:
        return embedding, labels
    embeddings = funcol.all_gather_single(embedding.contiguous(), 0, dist.group.WORLD)
    parts = [torch.empty_like(labels) for _ in range(ctx.world_size)]
    dist.all_gather(parts, labels.contiguous())
    return embeddings, torch.cat(parts, 0)


def all_sum(values: list[float], ctx: DistContext) -> list[float]:
    """Element-wise sum of ``values`` over all processes (unchanged with one). The tensor
    lives where the group's backend reduces: on this process's GPU under NCCL (which has no
    CPU path: found by the first GPU run, benchmarks/gpu_check.sh), on the CPU under gloo."""
    if not ctx.enabled:
        return values
    device = (torch.device("cuda", ctx.local_rank) if dist.get_backend() == "nccl"
              else torch.device("cpu"))
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


class DistributedBatchSampler(Sampler[int]):
    """This process's share of every global batch of a base order.

    The base order is the one-process training order: the ``base`` sampler's (identity,
    balanced: both depend only on ``(seed, epoch)``), or the random permutation the
    one-process ``DataLoader(shuffle=True)`` draws from its generator seeded with
    ``seed * 100003 + epoch`` (one draw for its workers' base seed, then ``randperm``). It
    is cut into global
    batches of ``batch_size`` (the tail dropped, as one process drops its last partial batch)
    and process ``rank`` of ``world_size`` yields items ``[rank * b, (rank + 1) * b)`` of each
    global batch, ``b = batch_size / world_size``: the processes' parts are disjoint and
    together are exactly the global batch. Use with ``DataLoader(batch_size=b)``.
    """

    def __init__(self, num_items: int, batch_size: int, rank: int, world_size: int,
                 base: Sampler | None = None, seed: int = 0):
        if batch_size % world_size:
            raise ValueError(f"batch_size {batch_size} is not divisible by {world_size}")
        self.num_items, self.batch_size = num_items, batch_size
        self.rank, self.world_size = rank, world_size
        self.base, self.seed, self.epoch = base, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        if self.base is not None and hasattr(self.base, "set_epoch"):
            self.base.set_epoch(epoch)

    def _global_order(self) -> list[int]:
        if self.base is not None:
            return list(iter(self.base))
        gen = torch.Generator().manual_seed(self.seed * 100003 + self.epoch)
        torch.empty((), dtype=torch.int64).random_(generator=gen)   # the loader's base seed
        return torch.randperm(self.num_items, generator=gen).tolist()

    def __iter__(self) -> Iterator[int]:
        order = self._global_order()
        b = self.batch_size // self.world_size
        for start in range(0, len(order) - self.batch_size + 1, self.batch_size):
            yield from order[start + self.rank * b:start + (self.rank + 1) * b]

    def __len__(self) -> int:
        n = len(self.base) if self.base is not None else self.num_items
        return n // self.batch_size * (self.batch_size // self.world_size)
