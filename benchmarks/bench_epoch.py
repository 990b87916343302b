"""Time training epochs of the authors' recipe on a Market-sized set: the GPU check of issue 9
(and, under torchrun, the DDP overhead of issue 13).

    python benchmarks/bench_epoch.py --data /tmp/market_timing [--configs ognet_small_market]
    torchrun --nproc_per_node 1 benchmarks/bench_epoch.py --data /tmp/market_timing

Writes (once; reused when present) a prepared Market-1501 tree of ``--identities`` x
``--per-identity`` training clouds of ``--cloud-points`` points: a person-sized body with a
coloured top and bottom in front of a background plane at its mean depth (the shape of a
lifted crop). It is timing data, not a re-id dataset: no accuracy is read from it. Then, for
each of ``--configs`` (the authors' Market-1501 command of each variant, ``configs/*.yaml``),
it runs the real training loop (:func:`ognet.engine.trainer.train`) with that config (its
batch, points, k, loss, augmentation, balanced sampler; float32, or the first of ``--amp``)
for ``--epochs`` epochs
of the unchanged 1000/1500-epoch schedule (``stop_epoch``), and prints each epoch's wall
time, the clouds per second and the full recipe's time at that rate. What bounds it is the
second table: the same training step on one batch held on the device (no loader, no
augmentation), in each precision of ``--amp`` (``--amp off bf16 fp16``: float32 and the two
mixed precisions), eager and, with ``--compile``, through ``torch.compile``. An epoch slower
than the resident-batch rate is bound by loading and augmenting the clouds (``--workers``).

Under ``torchrun`` every process trains its share of each global batch (DDP, NCCL on GPUs,
gloo on CPUs): the same command with ``--nproc_per_node 1`` against plain ``python`` is the
per-GPU overhead of DDP. A small CPU run (``--identities 8 --per-identity 4 --cloud-points
2048 --num-points 1024 --stage-points 192 96 48 24 --batch-size 8 --device cpu``) checks
the script on a CPU.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.engine import distributed  # noqa: E402
from ognet.engine.checkpoint import resolve_device  # noqa: E402
from ognet.engine.config import AMP_MODES, TrainConfig  # noqa: E402
from ognet.engine.losses import CircleLoss  # noqa: E402
from ognet.engine.trainer import grad_scaler, train, training_step  # noqa: E402
from ognet.models import create_model  # noqa: E402
from ognet.pointcloud import save_cloud  # noqa: E402

CONFIGS = REPO / "configs"


def timing_cloud(pid: int, index: int, points: int) -> np.ndarray:
    """(points, 6) float32 in metres: a 1.7 m body (an ellipsoid's surface, its width set by
    ``pid``) seen from the front, 70% of the points, and a background plane 1.0 x 2.0 m at its
    mean depth, 30%; colours: a top and bottom per identity, the background grey."""
    rng = np.random.default_rng(pid * 100_003 + index)
    n_body = int(0.7 * points)
    d = rng.normal(size=(n_body, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    build = 0.18 + 0.06 * ((pid * 7) % 5) / 4
    body = d * np.array([build, 0.85, 0.12]) + np.array([0.0, 0.85, 0.0])
    top = body[:, 1] > 0.85
    palette = np.random.default_rng(pid).uniform(0.1, 0.9, size=(2, 3))
    body_rgb = np.where(top[:, None], palette[0], palette[1])
    n_bg = points - n_body
    bg = np.column_stack([rng.uniform(-0.5, 0.5, n_bg), rng.uniform(0, 2.0, n_bg),
                          np.zeros(n_bg)])
    bg_rgb = np.full((n_bg, 3), 0.5) + rng.normal(0, 0.05, (n_bg, 3))
    cloud = np.vstack([np.column_stack([body, body_rgb]), np.column_stack([bg, bg_rgb])])
    return cloud.astype(np.float32)


def _write_identity(args) -> None:
    root, pid, per_identity, points = args
    for j in range(per_identity):
        cam = 1 + j % 6
        save_cloud(Path(root) / "bounding_box_train" / f"{pid:04d}_c{cam}s1_{j:06d}_00.npz",
                   timing_cloud(pid, j, points))


def write_timing_tree(root: Path, identities: int, per_identity: int, points: int,
                      workers: int) -> int:
    """The training split of a prepared Market-1501 tree (written once: a ``done.json`` stamp
    names its size); returns the number of clouds."""
    stamp = root / "done.json"
    size = {"identities": identities, "per_identity": per_identity, "points": points}
    if stamp.is_file() and json.loads(stamp.read_text()) == size:
        return identities * per_identity
    jobs = [(str(root), pid, per_identity, points) for pid in range(1, identities + 1)]
    with ProcessPoolExecutor(max(1, workers)) as pool:
        list(tqdm(pool.map(_write_identity, jobs, chunksize=8), total=len(jobs),
                  desc="writing timing clouds"))
    stamp.write_text(json.dumps(size))
    return identities * per_identity


def recipe(name: str, args, out_dir: Path) -> TrainConfig:
    """The Market config ``configs/<name>.yaml`` with this run's data, device, workers and
    sizes."""
    overrides = {"data": str(args.data), "out_dir": str(out_dir), "device": args.device,
                 "workers": args.workers, "eval_every": 0, "resume": False,
                 "amp": args.amp[0]}
    if args.num_points:
        overrides["num_points"] = args.num_points
    if args.batch_size:
        overrides["batch_size"] = args.batch_size
    if args.stage_points:
        overrides["model_overrides"] = {"stage_points": args.stage_points}
    return TrainConfig.from_file(CONFIGS / f"{name}.yaml", **overrides)


def time_epochs(name: str, args) -> dict:
    config = recipe(name, args, Path(args.out) / name)
    result = train(config, progress=True, stop_epoch=args.epochs)
    seconds = [h["epoch_s"] for h in result["history"]]
    return {"config": config, "epoch_s": seconds}


def time_resident_batch(config: TrainConfig, device: torch.device, compile_model: bool,
                        steps: int) -> float:
    """Clouds per second of the trainer's step (:func:`training_step`) on one batch held
    on ``device``."""
    model = create_model(config.model, num_classes=751, **config.model_kwargs()).to(device)
    model.train()
    net = distributed.TrainForward(model)  # the trainer's forward: (embedding, logits)
    net = torch.compile(net) if compile_model else net
    points = torch.from_numpy(np.stack([timing_cloud(1 + i % 751, i, config.num_points)
                                        for i in range(config.batch_size)])).to(device)
    labels = torch.arange(config.batch_size, device=device) % 751
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr, amsgrad=True)
    scaler = grad_scaler(config, device)
    circle = CircleLoss(config.circle_margin, config.circle_gamma) \
        if "circle" in config.loss else None

    times = []
    for i in range(steps + 3):  # three warm-up steps (and compilation)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        training_step(net, points, labels, optimizer, scaler, circle, config)
        if device.type == "cuda":
            torch.cuda.synchronize()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return config.batch_size / statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="the timing tree (written "
                        "there once)")
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_epoch_runs"))
    parser.add_argument("--configs", nargs="+", default=[
        "ognet_market", "ognet_small_market", "ognet_deep_circle_market"],
        help="names in configs/ (the authors' Market-1501 command of each variant)")
    parser.add_argument("--identities", type=int, default=751)
    parser.add_argument("--per-identity", type=int, default=17,
                        help="clouds per identity (751 x 17 = 12,767, Market-1501's 12,936)")
    parser.add_argument("--cloud-points", type=int, default=8192)
    parser.add_argument("--epochs", type=int, default=2, help="epochs timed per variant")
    parser.add_argument("--steps", type=int, default=20, help="resident-batch steps timed")
    parser.add_argument("--num-points", type=int, default=0, help="override the config's")
    parser.add_argument("--batch-size", type=int, default=0, help="override the config's")
    parser.add_argument("--stage-points", type=int, nargs="+", default=None,
                        help="override the model's (a small CPU check)")
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--amp", nargs="+", choices=AMP_MODES, default=["off"],
                        help="precisions: the epochs run in the first, the resident batch in "
                        "each (off: float32, the training default)")
    parser.add_argument("--compile", action="store_true",
                        help="also time the resident batch through torch.compile")
    args = parser.parse_args()

    # Join torchrun's group first (NCCL on CUDA, as train() would), to write the data once.
    ctx, device = distributed.setup(resolve_device(args.device))
    if ctx.is_main:
        n = write_timing_tree(args.data, args.identities, args.per_identity,
                              args.cloud_points, args.workers)
        print(f"timing tree: {n} clouds of {args.cloud_points} points, {args.identities} "
              f"identities")
    distributed.barrier(ctx)
    main_process = ctx.is_main
    ddp = f"DDP, {ctx.world_size} process(es)" if ctx.enabled else "one process"
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    if main_process:  # each row as soon as it is measured: a time limit keeps what is done
        print(f"\n{gpu}, torch {torch.__version__}, {ddp}, workers {args.workers}")
        print("| config | points | batch | AMP | epoch s (each) | clouds/s (last) | "
              "recipe epochs | recipe at that rate |")
        print("|---|---:|---:|---|---|---:|---:|---:|", flush=True)
    n_clouds = args.identities * args.per_identity
    configs = []
    for name in args.configs:
        timed = time_epochs(name, args)
        cfg, secs = timed["config"], timed["epoch_s"]
        configs.append((name, cfg))
        if main_process:
            rate = n_clouds // cfg.batch_size * cfg.batch_size / secs[-1]
            amp = cfg.amp
            print(f"| {name} | {cfg.num_points} | {cfg.batch_size} | {amp} | "
                  f"{', '.join(f'{s:.1f}' for s in secs)} | {rate:.0f} | {cfg.epochs} | "
                  f"{cfg.epochs * secs[-1] / 3600:.2f} h |", flush=True)
    if ctx.enabled:
        return 0
    print("\nThe same training step on one batch held on the device (no loader), clouds/s")
    print("| config | AMP | eager | torch.compile |")
    print("|---|---|---:|---:|")
    for name, cfg in configs:
        for amp in args.amp:
            cfg = dataclasses.replace(cfg, amp=amp)
            eager = time_resident_batch(cfg, device, False, args.steps)
            compiled = "-"
            if args.compile:
                try:
                    compiled = f"{time_resident_batch(cfg, device, True, args.steps):.0f}"
                except Exception as exc:  # report, do not hide: the eager figure stands
                    compiled = f"failed: {type(exc).__name__}: {str(exc)[:80]}"
            print(f"| {name} | {amp} | {eager:.0f} | {compiled} |", flush=True)
    return 0


if __name__ == "__main__":
    try:
        raise SystemExit(main())
    finally:
        distributed.shutdown()
