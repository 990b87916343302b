"""Data-parallel training: the distributed sampler splits every global batch exactly; the
gradient of two gloo processes (circle loss over the gathered batch included) is the
one-process gradient; two processes under torchrun train a tiny OG-Net, rank 0 alone writes,
an interrupted run resumed gives the uninterrupted run's weights, and the result matches one
process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from test_engine import TINY, tiny_config, write_market_tree
from torch.utils.data import DataLoader

from ognet.data import ClassBalancedSampler, RandomIdentitySampler
from ognet.engine import CircleLoss, TrainConfig, train
from ognet.engine.checkpoint import load_state_dict
from ognet.engine.distributed import (
    CPUSyncBatchNorm,
    DistContext,
    DistributedBatchSampler,
    convert_cpu_sync_batchnorm,
    local_batch_size,
    unsync_batchnorm,
)
from ognet.engine.trainer import training_loss
from ognet.models import create_model

LABELS = np.repeat(np.arange(10), [3, 5, 2, 7, 4, 4, 6, 3, 5, 1])


def _one_process_batches(base, n, batch, seed, epoch):
    """The global batches one process trains on (as the trainer's DataLoader draws them)."""
    if base is not None:
        base.set_epoch(epoch)
    gen = torch.Generator().manual_seed(seed * 100003 + epoch)
    loader = DataLoader(range(n), batch_size=batch, sampler=base, shuffle=base is None,
                        generator=gen, drop_last=True)
    return [b.tolist() for b in loader]


@pytest.mark.parametrize("kind", ["random", "identity", "balanced"])
@pytest.mark.parametrize("world", [2, 4])
def test_process_shares_are_exactly_the_one_process_batches(kind, world):
    n, batch, seed, epoch = len(LABELS), 8, 5, 3

    def base():
        if kind == "identity":
            return RandomIdentitySampler(LABELS, batch, num_instances=2, seed=seed)
        return ClassBalancedSampler(LABELS, 2, seed=seed) if kind == "balanced" else None

    expected = _one_process_batches(base(), n, batch, seed, epoch)
    shares = []
    for rank in range(world):
        s = DistributedBatchSampler(n, batch, rank, world, base(), seed)
        s.set_epoch(epoch)
        order = list(s)
        assert len(order) == len(s) == len(expected) * batch // world
        shares.append([order[i:i + batch // world] for i in range(0, len(order), batch // world)])
    for step, global_batch in enumerate(expected):
        parts = [shares[r][step] for r in range(world)]
        assert sum(parts, []) == global_batch            # together: the global batch, in order
        assert len({i for p in parts for i in p}) == len({*global_batch})   # disjoint slots
    with pytest.raises(ValueError, match="does not split into 3"):
        local_batch_size(batch, DistContext(rank=0, world_size=3))


@pytest.mark.parametrize("kind", ["cuda", "cpu"])
def test_sync_batchnorm_round_trip_keeps_the_weights(kind):
    model = create_model("ognet_small", num_classes=3, **TINY).eval()
    x = torch.rand(2, 256, 6)
    before = model(x)
    if kind == "cuda":
        torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    else:
        convert_cpu_sync_batchnorm(model)
    synced = torch.nn.SyncBatchNorm if kind == "cuda" else CPUSyncBatchNorm
    assert sum(isinstance(m, synced) for m in model.modules()) > 5
    torch.testing.assert_close(model(x), before)      # eval mode: the same batch norm
    unsync_batchnorm(model)
    assert not any(isinstance(m, synced) for m in model.modules())
    assert sum(type(m) is torch.nn.BatchNorm1d for m in model.modules()) > 5
    torch.testing.assert_close(model(x), before)


# One global batch of 8 split over 2 processes; the labels put positive pairs both within a
# process's half (0 0, 3 3) and across the halves (1 1, 2 2).
GRADIENT_LABELS = [0, 1, 0, 2, 1, 3, 2, 3]
GRADIENT_SCRIPT = """
import json, sys, torch
from ognet.engine import CircleLoss, TrainConfig, distributed
from ognet.engine.trainer import training_loss
from test_distributed import gradient_setup
ctx, device = distributed.setup(torch.device("cpu"))
model, points, labels = gradient_setup(json.loads(sys.argv[1]))
b = len(labels) // ctx.world_size
mine = slice(ctx.rank * b, (ctx.rank + 1) * b)
net = distributed.wrap(model, ctx, device)       # kept: DDP reduces while it lives
embedding, logits = net(points[mine])
loss = training_loss(embedding, logits, labels[mine], CircleLoss(), TrainConfig(data=""), ctx)
loss.backward()
if ctx.is_main:
    torch.save({"grads": {n: p.grad for n, p in model.named_parameters()},
                "buffers": dict(model.named_buffers())}, sys.argv[2])
distributed.shutdown()
"""


def gradient_setup(model_kwargs: dict):
    """A tiny OG-Net in training mode without dropout (dropout masks are drawn per process by
    design) and one global batch of 8 clouds with their labels, in float64: DDP sums in
    another order than one process, and in float32 the rounding of the sums over every edge
    reaches 0.2% of a small gradient (the max/mean mix's), so float32 could not tell a real
    difference from rounding; in float64 the two gradients agree to 1e-9."""
    torch.manual_seed(0)
    model = create_model("ognet_small", num_classes=4, **model_kwargs).train().double()
    model.dropout.p = 0.0
    points = torch.rand(8, 256, 6, generator=torch.Generator().manual_seed(1),
                        dtype=torch.float64)
    return model, points, torch.tensor(GRADIENT_LABELS)


@pytest.mark.slow
def test_two_processes_give_the_one_process_gradient(tmp_path, repo_root):
    """Batch norm over the global batch (CPUSyncBatchNorm) and the circle loss over the
    gathered batch: DDP's gradient and running statistics are those of one process."""
    model, points, labels = gradient_setup(TINY)
    embedding = model.dropout(model.forward_features(points))   # one process, the global batch
    loss = training_loss(embedding, model.classifier(embedding), labels, CircleLoss(),
                         TrainConfig(data=""))
    loss.backward()
    assert float(CircleLoss()(embedding, labels).detach()) > 0   # the circle loss counts
    (tmp_path / "grad.py").write_text(textwrap.dedent(GRADIENT_SCRIPT))
    env_path = f"{repo_root / 'tests'}{os.pathsep}{repo_root}"
    _torchrun([str(tmp_path / "grad.py"), json.dumps(TINY), str(tmp_path / "grads.pt")],
              repo_root, pythonpath=env_path)
    ddp = torch.load(tmp_path / "grads.pt", weights_only=True)
    # Compared by norms: a linear bias right before batch norm has a gradient of 0 up to
    # rounding (the norm removes it), so its elements differ at the rounding level only.
    # In float64 (gradient_setup) both gradients agree to 1e-9 of each parameter's norm.
    scale = torch.cat([p.grad.flatten() for p in model.parameters()]).norm()
    for name, p in model.named_parameters():
        error = (ddp["grads"][name] - p.grad).norm()
        assert error <= 1e-9 * p.grad.norm() + 1e-11 * scale, (name, error, p.grad.norm())
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(ddp["buffers"][name], buffer, rtol=1e-4, atol=1e-6,
                                   msg=name)


# The same tiny run as flags (torchrun) and as a TrainConfig (one process, resume script).
FLAGS = ["--model", "ognet_small", "--num-points", "256", "--k", "8", "--epochs", "2",
         "--batch-size", "8", "--lr", "3e-3", "--warmup-epochs", "1", "--eval-every", "2",
         "--workers", "0", "--device", "cpu", "--seed", "3", "--sampler", "identity",
         "--num-instances", "2", "--average-last", "0.5", "--quiet"] + \
        [a for key, value in TINY.items() if key != "k"
         for a in ("--set", f"{key}={json.dumps(value)}")]
CONFIG = {"epochs": 2, "sampler": "identity", "num_instances": 2, "average_last": 0.5}

RESUME_SCRIPT = """
import sys
from ognet.engine import TrainConfig, train
from ognet.engine.distributed import shutdown
config = TrainConfig.from_file(sys.argv[1])
train(config, progress=False, stop_epoch=1)        # interrupted after epoch 1
config.resume = True
train(config, progress=False)                      # resumed to the end
shutdown()
"""


def _torchrun(args, repo_root, pythonpath=None, processes: int = 2):
    # one process: as many threads as this one (bit-identical runs); several: one each
    threads = str(torch.get_num_threads() if processes == 1 else 1)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "PYTHONPATH": pythonpath or str(repo_root)}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           str(processes), *args]
    done = subprocess.run(cmd, cwd=repo_root, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


@pytest.mark.slow
def test_torchrun_two_gloo_processes(tmp_path, repo_root):
    data = write_market_tree(tmp_path / "market")
    ddp = tmp_path / "ddp"
    out = _torchrun(["-m", "ognet", "train", "--data", str(data), "--out", str(ddp), *FLAGS],
                    repo_root)
    assert out.count("done: 2 epochs") == 1            # printed by rank 0 only
    log = (ddp / "train.log").read_text()
    assert "data parallel: 2 processes, 4 items each per batch of 8" in log
    assert log.count("epoch 1 ") == 1 and log.count("epoch 2 ") == 1   # one writer
    history = [json.loads(line) for line in (ddp / "history.jsonl").read_text().splitlines()]
    assert [h["epoch"] for h in history] == [1, 2] and "test_mAP" in history[1]
    for name in ("last", "final"):
        assert (ddp / f"{name}.safetensors").is_file() and (ddp / f"{name}.json").is_file()
    assert not list(ddp.glob("*.tmp*"))

    # interrupted after epoch 1 and resumed (both under torchrun): the same weights
    config = tiny_config(data, tmp_path / "resumed", **CONFIG)
    (tmp_path / "config.json").write_text(json.dumps(config.to_dict()))
    (tmp_path / "resume.py").write_text(textwrap.dedent(RESUME_SCRIPT))
    _torchrun([str(tmp_path / "resume.py"), str(tmp_path / "config.json")], repo_root)
    a = load_state_dict(ddp / "final.safetensors")
    b = load_state_dict(tmp_path / "resumed" / "final.safetensors")
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)

    # one process from the same weights on the same global batches: the first epoch's loss
    # agrees up to batch-norm statistics per process and dropout masks (later epochs drift
    # apart as any two runs do; run-to-run noise is measured in BENCHMARKS.md)
    one = train(tiny_config(data, tmp_path / "one", **CONFIG), progress=False)
    assert history[0]["loss"] == pytest.approx(one["history"][0]["loss"], rel=0.25)


@pytest.mark.slow
def test_torchrun_one_process_trains_under_ddp_as_a_plain_process(tmp_path, repo_root):
    """``torchrun --nproc_per_node 1`` joins a process group and trains under DDP (how DDP's
    overhead over a plain process is measured): the same batches, seeds and statistics as a
    plain process with as many threads, so the same losses and weights, bit for bit."""
    data = write_market_tree(tmp_path / "market")
    ddp = tmp_path / "ddp"
    _torchrun(["-m", "ognet", "train", "--data", str(data), "--out", str(ddp), *FLAGS],
              repo_root, processes=1)
    assert "data parallel: 1 process, 8 items each per batch of 8" in \
        (ddp / "train.log").read_text()
    one = train(tiny_config(data, tmp_path / "one", **CONFIG), progress=False)["history"]
    history = [json.loads(line) for line in (ddp / "history.jsonl").read_text().splitlines()]
    assert [h["loss"] for h in history] == [h["loss"] for h in one]
    a = load_state_dict(ddp / "final.safetensors")
    b = load_state_dict(tmp_path / "one" / "final.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
