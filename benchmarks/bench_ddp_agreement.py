"""Do two gloo processes (CPU data parallel) train as one process does, within seed noise?

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/bench_ddp_agreement.py \
        [--data data/study/clouds] [--work data/ddp_agreement] [--identities 50] [--epochs 6] \
        [--seeds 0 1] [--reference DIR]

For every seed, one ``python -m ognet train`` process and ``torchrun --standalone
--nproc_per_node 2 -m ognet train`` train the same recipe (``configs/ognet_small_market.yaml``:
global batch 36, so 18 items per process; lr 1e-3, balanced sampling, 1 warm-up epoch, the
last 10% of the epochs weight-averaged) with the quarter-width model of the demo study (1024
points, stages 192/96/48/24, channels 12-24-48-96) on the first ``--identities`` training
identities (by pid) of ``--data``; then ``python -m ognet evaluate`` scores each ``final`` on
the full test split (Market-1501 protocol, trapezoid AP). Runs one after another; a run whose
``final`` exists is kept (rerun to continue). Prints the per-epoch loss / accuracy of every run
and the evaluation, and writes ``WORK/results.json``.

Same seed, one process or two: the same global batches and augmentations (the distributed
sampler cuts the one-process order) and, since batch norm is synchronised on CPUs too
(``CPUSyncBatchNorm``), the same gradient for the same weights (tested); what differs is the
dropout masks (drawn per process) and the order of float sums. Seeds of one process give
the run-to-run noise to compare against.

``--reference DIR`` reads the one-process runs instead of training them again:
``DIR/run_3d_s{seed}`` with ``history.jsonl`` and ``evaluation.json``, as the demo study
writes them (``scripts/build_demo_assets.py --runs runs_study``, trained with the same flags and
``--warmup-epochs 1``). With ``--identities 100 --epochs 16 --seeds 0 1 2 --reference
data/study/runs_study`` the two-process runs repeat that study's three 3D runs exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL = ["--num-points", "1024", "--set", "stage_points=[192,96,48,24]",
         "--set", "channels=[12,24,48,96]"]


def subset(src: Path, dst: Path, identities: int) -> int:
    """``dst``: symlinks to the training clouds of the first ``identities`` pids of ``src``
    and to its whole ``query`` / ``bounding_box_test``; returns the training cloud count."""
    train = dst / "bounding_box_train"
    train.mkdir(parents=True, exist_ok=True)
    files = sorted((src / "bounding_box_train").glob("*.npz"))
    pids = sorted({f.name.split("_")[0] for f in files})[:identities]
    kept = [f for f in files if f.name.split("_")[0] in pids]
    for f in kept:
        link = train / f.name
        if not link.exists():
            link.symlink_to(f.resolve())
    for split in ("query", "bounding_box_test"):
        link = dst / split
        if not link.exists():
            link.symlink_to((src / split).resolve(), target_is_directory=True)
    return len(kept)


def run(cmd: list[str]) -> float:
    print("$", " ".join(cmd), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    print(f"  ({time.time() - t0:.0f} s)", flush=True)
    return time.time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/study/clouds")
    parser.add_argument("--work", default="data/ddp_agreement")
    parser.add_argument("--identities", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--reference", default=None,
                        help="folder of one-process runs run_3d_s{seed} to read, not train")
    args = parser.parse_args()
    work = (REPO / args.work).resolve()
    clouds = work / "clouds"
    n_train = subset((REPO / args.data).resolve(), clouds, args.identities)
    print(f"{n_train} training clouds of {args.identities} identities in {clouds}", flush=True)
    results = {}
    for seed in args.seeds:
        for procs in (1, 2):
            name = f"{procs}p_s{seed}"
            out = work / "runs" / name
            if procs == 1 and args.reference:
                out = (REPO / args.reference / f"run_3d_s{seed}").resolve()
            train = ["-m", "ognet", "train", "--config", "configs/ognet_small_market.yaml",
                     "--data", str(clouds), *MODEL, "--epochs", str(args.epochs),
                     "--warmup-epochs", "1", "--workers", "0", "--eval-every", "0",
                     "--device", "cpu",
                     "--seed", str(seed), "--out", str(out), "--quiet"]
            launcher = [sys.executable] if procs == 1 else [
                sys.executable, "-m", "torch.distributed.run", "--standalone",
                "--nproc_per_node", str(procs)]
            train_s = None
            if not (out / "final.safetensors").is_file():
                train_s = run([*launcher, *train])
            ev = out / "evaluation.json"
            if not ev.is_file():
                run([sys.executable, "-m", "ognet", "evaluate", "--checkpoint",
                     str(out / "final.safetensors"), "--data", str(clouds), "--workers", "0",
                     "--device", "cpu", "--json", str(ev)])
            history = [json.loads(line) for line in (out / "history.jsonl").open()]
            e = json.loads(ev.read_text())
            results[name] = {"processes": procs, "seed": seed, "train_s": train_s,
                             "loss": [round(h["loss"], 4) for h in history],
                             "acc": [round(h["acc"], 4) for h in history],
                             **{k: round(e[k], 2) for k in ("rank1", "rank5", "mAP")}}
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print("\n| run | loss by epoch | acc by epoch | Rank-1 | Rank-5 | mAP |")
    for name, r in results.items():
        print(f"| {name} | {' '.join(f'{v:.3f}' for v in r['loss'])} | "
              f"{' '.join(f'{v:.3f}' for v in r['acc'])} | {r['rank1']:.1f} | "
              f"{r['rank5']:.1f} | {r['mAP']:.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
