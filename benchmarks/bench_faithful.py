"""Accuracy of the changes of issues 25 and 23 that can move it, side by side on one setting.

    nice -n 10 .venv/bin/python benchmarks/bench_faithful.py --data data/small/clouds \
        --out data/small/faithful --seeds 0 1 2 --epochs 10 --parallel 2

Every arm trains OG-Net-Small with the authors' OG-Net-Small recipe
(``configs/ognet_small_market.yaml``: batch 36, lr 1e-3, balanced sampling, per-axis scale,
jitter, flip, cosine to 1%, the last 10% of the epochs weight-averaged) for ``--epochs``
epochs (warm-up: a tenth of them, at least one) on the prepared training split of ``--data``,
then evaluates its ``final`` checkpoint on the query / gallery split (Market-1501 protocol,
one-pass features, trapezoid AP). Nothing is chosen on the test split. The arms:

- ``default``: this version (ball members spread over the ball, sampling along the cloud's
  Hilbert curve, the authors' initialisation, the input canonicalised);
- ``ball_first``: the authors' ball-query rule (``--set grouping="ball_first"``: the first r
  points of each ball in the cloud's canonical order, issue 25 point 4);
- ``row_stride``: sampling as before issue 23: evenly spaced through the file's rows (1024 of
  a lifted crop's 8192 are every 8th pixel column), in training half random rows and half
  strided with a random phase; evaluation strided the same way;
- ``earlier_init``: initialisation as before issue 25: every linear layer Kaiming (leaky ReLU
  0.2, fan-in), norms weight 1, classifier N(0, 0.001^2);
- ``index_ties``: the model's input not put in canonical order (ties of FPS and k-NN go to
  the lower index of the points as the sampler lists them, as before issue 25; the ball
  query keeps its own tie-break by value);
- ``amp_bf16``, ``amp_fp16`` (a GPU's arms, not run by default): ``default`` trained and
  evaluated under ``--amp bf16`` / ``--amp fp16`` (issue 25 point 2).

``row_stride``, ``earlier_init`` and ``index_ties`` put the earlier rule back in the run's own
process (they exist only here, as baselines). Runs go ``--parallel`` at a time, one torch
thread each (``--threads``), each in its own process; a run whose ``result.json`` exists is
kept, so the command resumes. Prints a table of mean ± sample standard deviation over the
seeds, each seed's figures and each arm's paired difference from ``default``, and writes
``OUT/study.json``.

Model: OG-Net-Small at a quarter of its width with 1024 points (the shipped demo model's
setting); ``--full-model`` trains the paper's OG-Net-Small with 4096 points instead. On a
GPU, every arm:

    python benchmarks/bench_faithful.py --data PREPARED --out OUT --full-model --device cuda \
        --parallel 1 --threads 16 --epochs 100 --arms default ball_first row_stride \
        earlier_init amp_bf16 amp_fp16
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

RECIPE = REPO / "configs" / "ognet_small_market.yaml"
ARMS = ("default", "ball_first", "row_stride", "earlier_init", "index_ties", "amp_bf16",
        "amp_fp16")
#: The arms a CPU study runs by default (mixed precision is for a GPU).
CPU_ARMS = ARMS[:5]
#: Precision of each arm: float32 but for the mixed-precision arms.
AMP = {"amp_bf16": "bf16", "amp_fp16": "fp16"}
#: The shipped demo model: a quarter of OG-Net-Small's width, 1024 points, stages halved twice.
DEMO = {"num_points": 1024,
        "model_overrides": {"stage_points": [192, 96, 48, 24], "channels": [12, 24, 48, 96]}}
FULL = {"num_points": 4096, "model_overrides": {}}


# ------------------------------------------------------------------------- earlier rules
def row_stride_rows(points, num_points, mode="stride", seed=0, rng=None):
    """Sampling before issue 23 (``ognet.pointcloud.sample_rows``'s interface): rows
    ``floor(i N / M)`` of the file; ``random``: M rows drawn uniformly; ``train``: half
    ``random``, half strided with a random phase in ``[0, N // M)``."""
    n = len(points)
    if mode == "stride":
        return np.arange(num_points, dtype=np.int64) * n // num_points
    rng = rng if rng is not None else np.random.default_rng(seed)
    if mode == "train" and rng.random() >= 0.5:
        phase = int(rng.integers(max(1, n // num_points)))
        return np.arange(num_points, dtype=np.int64) * n // num_points + phase
    return np.sort(rng.choice(n, size=num_points, replace=n < num_points))


def earlier_init(model) -> None:
    """``OGNet._init_weights`` before issue 25."""
    from torch import nn

    for m in model.modules():
        if isinstance(m, nn.Linear):
            nn.init.kaiming_normal_(m.weight, a=0.2, nonlinearity="leaky_relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm1d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if model.classifier is not None:
        nn.init.normal_(model.classifier.weight, std=0.001)
        nn.init.zeros_(model.classifier.bias)


# ------------------------------------------------------------------------- one run
def run_one(arm: str, seed: int, args) -> dict:
    """Train and evaluate one arm at one seed in this process; returns its result."""
    import torch

    import ognet.ops
    import ognet.pointcloud
    from ognet import load_model
    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine import TrainConfig, evaluate_retrieval, train
    from ognet.models.ognet import OGNet

    torch.set_num_threads(args.threads)
    if arm == "row_stride":
        ognet.pointcloud.sample_rows = row_stride_rows  # what sample_points calls
    if arm == "earlier_init":
        OGNet._init_weights = earlier_init
    if arm == "index_ties":
        sort = ognet.ops.canonical_order
        ognet.ops.canonical_order = lambda p: (  # the model's (B, N, 6) input: left as it is
            torch.arange(p.shape[1]).expand(p.shape[0], -1) if p.shape[-1] == 6 else sort(p))
    size = FULL if args.full_model else DEMO
    overrides = {**size["model_overrides"]}
    if arm == "ball_first":
        overrides["grouping"] = "ball_first"
    out = Path(args.out) / f"{arm}_s{seed}"
    config = TrainConfig.from_file(
        RECIPE, data=str(args.data), out_dir=str(out), epochs=args.epochs,
        warmup_epochs=max(1, args.epochs // 10), seed=seed, device=args.device, workers=0,
        num_points=size["num_points"], model_overrides=overrides, eval_every=0,
        batch_size=args.batch_size, amp=AMP.get(arm, "off"), resume=True)
    t0 = time.perf_counter()
    trained = train(config, progress=False)
    t1 = time.perf_counter()
    model = load_model(trained["checkpoint"], device=args.device)
    data = load_dataset(args.data, splits=("query", "gallery"))
    kw = {"num_points": config.num_points}
    ev = evaluate_retrieval(model, PointCloudDataset(data.query, **kw),
                            PointCloudDataset(data.gallery, **kw), batch_size=36,
                            device=args.device, progress=False, amp=config.amp)
    result = {"arm": arm, "seed": seed, "rank1": ev["rank1"], "rank5": ev["rank5"],
              "mAP": ev["mAP"], "amp": config.amp, "num_query": ev["num_query"],
              "num_gallery": ev["num_gallery"], "train_s": round(t1 - t0),
              "evaluate_s": round(time.perf_counter() - t1), "epochs": args.epochs,
              "num_points": config.num_points, "model_overrides": overrides,
              "train_items": len(load_dataset(args.data, splits=("train",)).train)}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


# ------------------------------------------------------------------------- the study
def launch(arm: str, seed: int, args) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--data", str(args.data), "--out", str(args.out),
           "--epochs", str(args.epochs), "--device", args.device, "--threads",
           str(args.threads), "--batch-size", str(args.batch_size), "--run", arm,
           str(seed)] + (["--full-model"] if args.full_model else [])
    log = open(Path(args.out) / f"{arm}_s{seed}.log", "w")
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads)}
    print(f"start {arm} seed {seed}", flush=True)
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)


def summarize(results: dict, arms, seeds) -> dict:
    def stats(values):
        return {"mean": statistics.mean(values),
                "std": statistics.stdev(values) if len(values) > 1 else 0.0,
                "per_seed": values}

    out = {}
    for arm in arms:
        runs = [results[(arm, s)] for s in seeds]
        out[arm] = {k: stats([r[k] for r in runs]) for k in ("rank1", "rank5", "mAP")}
        out[arm]["train_s"] = [r["train_s"] for r in runs]
        if arm != "default" and "default" in arms:
            base = [results[("default", s)] for s in seeds]
            out[arm]["minus_default"] = {
                k: stats([r[k] - b[k] for r, b in zip(runs, base, strict=True)])
                for k in ("rank1", "mAP")}
    return out


def table(study: dict) -> str:
    lines = ["| arm | Rank-1 | mAP | Rank-1 per seed | mAP per seed | minus default: Rank-1 "
             "| mAP |", "|---|---:|---:|---|---|---:|---:|"]
    for arm, s in study.items():
        diff = s.get("minus_default")
        d = (f"{diff['rank1']['mean']:+.1f} ± {diff['rank1']['std']:.1f} | "
             f"{diff['mAP']['mean']:+.1f} ± {diff['mAP']['std']:.1f}") if diff else "| "
        lines.append(
            f"| {arm} | {s['rank1']['mean']:.1f} ± {s['rank1']['std']:.1f} | "
            f"{s['mAP']['mean']:.1f} ± {s['mAP']['std']:.1f} | "
            f"{', '.join(f'{v:.1f}' for v in s['rank1']['per_seed'])} | "
            f"{', '.join(f'{v:.1f}' for v in s['mAP']['per_seed'])} | {d} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="prepared dataset folder")
    parser.add_argument("--out", type=Path, required=True, help="runs and study.json")
    parser.add_argument("--arms", nargs="+", choices=ARMS, default=list(CPU_ARMS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=36)
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-model", action="store_true",
                        help="the paper's OG-Net-Small, 4096 points (default: the demo model)")
    parser.add_argument("--run", nargs=2, metavar=("ARM", "SEED"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run:
        run_one(args.run[0], int(args.run[1]), args)
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    todo = [(arm, s) for s in args.seeds for arm in args.arms
            if not (args.out / f"{arm}_s{s}" / "result.json").is_file()]
    running: dict = {}
    while todo or running:
        while todo and len(running) < args.parallel:
            key = todo.pop(0)
            running[key] = launch(*key, args)
        time.sleep(5)
        for key, proc in list(running.items()):
            if proc.poll() is not None:
                del running[key]
                status = "done" if proc.returncode == 0 else f"FAILED ({proc.returncode})"
                print(f"{status}: {key[0]} seed {key[1]} ({time.time() - t0:.0f} s)",
                      flush=True)
    results = {}
    for arm in args.arms:
        for s in args.seeds:
            path = args.out / f"{arm}_s{s}" / "result.json"
            if not path.is_file():
                print(f"missing: {path} (see {args.out / f'{arm}_s{s}.log'})")
                return 1
            results[(arm, s)] = json.loads(path.read_text())
    study = summarize(results, args.arms, args.seeds)
    first = results[(args.arms[0], args.seeds[0])]
    study_file = {"setting": {"data": str(args.data), "epochs": args.epochs,
                              "seeds": args.seeds, "num_points": first["num_points"],
                              "full_model": args.full_model, "train_items":
                              first["train_items"], "num_query": first["num_query"],
                              "num_gallery": first["num_gallery"], "device": args.device,
                              "minutes": round((time.time() - t0) / 60, 1)},
                  "arms": study}
    (args.out / "study.json").write_text(json.dumps(study_file, indent=2) + "\n")
    print(json.dumps(study_file["setting"]))
    print(table(study))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
