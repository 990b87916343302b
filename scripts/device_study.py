"""On a lent GPU machine, in one call: the demo model at the paper's width and the 3D-vs-flat
study beside it, every run concurrently on the one GPU.

    python3 scripts/device_study.py --pack PACK --out $OUT --budget 330
        [--runs 3d:0 2d:0 3d:1 2d:1 3d:2 2d:2] [--ship 3d:0] [--control 2d:0]

``PACK`` is a prepared synthetic dataset (training split, queries and gallery) packed by
``scripts/pack_prepared.py`` (the lent machine cannot lift: no MediaPipe, Open3D or smplx).
Each run is ``ARM:SEED`` with ARM ``3d`` (the lifted clouds), ``2d`` (the paper's flat control,
z = 0, ``--z-zero``) or ``3d_bf16`` (``3d`` under ``--amp bf16``, for issue 25's precision
question). Every run is OG-Net-Small at the paper's width with the authors' Market-1501
command (``configs/ognet_small_market.yaml``: 4096 points, batch 36, lr 1e-3, balanced
sampler, weights averaged over the last 10% of the epochs) in float32 unless its arm says
otherwise. The same budget holds for every arm: the runs train side by side (the GPU is
bound by kernel launches, not arithmetic, so several processes share it well: measured by
the probe), for as many epochs as ``--budget`` seconds hold at the rate a 2-epoch probe of
all the runs together measured, so the schedule (a tenth of the epochs warm-up, cosine,
averaging) is fixed before the runs start and every run ends on its own with its
weight-averaged ``final``. Each ``final`` is then evaluated on the packed test split
(``python -m ognet evaluate``: Market-1501 protocol, both AP definitions; nothing is chosen on
it). ``OUT`` receives ``study.json`` (plan, per-run evaluations and training histories), the
``--ship`` run's checkpoint as ``final.safetensors``/``.json`` and the ``--control`` run's as
``control.safetensors``/``.json``, and ``logs.tar.gz``. The lead evaluates the shipped one
again on the CPU machine (``scripts/build_demo_assets.py --checkpoint``) before shipping it.

A CPU dry run (tiny model and budget): ``.venv/bin/python scripts/device_study.py --pack P
--out /tmp/o --budget 40 --tiny --runs 3d:0 2d:0``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RECIPE = "configs/ognet_small_market.yaml"
ARMS = {"3d": [], "2d": ["--z-zero"], "3d_bf16": ["--amp", "bf16"]}
PROBE_EPOCHS = 2


def run_all(commands: dict[str, list[str]], logs: Path) -> dict[str, int]:
    """Start every command at once; wait for all; return their exit codes."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1",
           "OMP_NUM_THREADS": "2"}
    procs = {}
    for name, cmd in commands.items():
        log = open(logs / f"{name}.log", "w")
        procs[name] = (subprocess.Popen([sys.executable, "-m", "ognet", *cmd], cwd=REPO,
                                        env=env, stdout=log, stderr=subprocess.STDOUT), log)
    codes = {}
    for name, (proc, log) in procs.items():
        codes[name] = proc.wait()
        log.close()
    return codes


def train_commands(runs: list[str], epochs: int, root: Path, data: Path, args) -> dict:
    model = (["--num-points", "1024", "--set", "stage_points=[192,96,48,24]",
              "--batch-size", "8", "--device", "cpu"] if args.tiny else ["--device", "cuda"])
    out = {}
    for run in runs:
        arm, seed = run.split(":")
        out[run.replace(":", "_s")] = [
            "train", "--config", RECIPE, "--data", str(data), "--epochs", str(epochs),
            "--warmup-epochs", str(epochs // 10), "--eval-every", "0", "--workers",
            str(args.workers), "--seed", seed, "--out", str(root / run.replace(":", "_s")),
            "--quiet", *ARMS[arm], *model]
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pack", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--budget", type=float, default=330, help="seconds of training")
    parser.add_argument("--runs", nargs="+",
                        default=["3d:0", "2d:0", "3d:1", "2d:1", "3d:2", "2d:2"])
    parser.add_argument("--ship", default="3d:0")
    parser.add_argument("--control", default="2d:0")
    parser.add_argument("--workers", type=int, default=1, help="loader workers per run")
    parser.add_argument("--work", type=Path, default=Path("/tmp/device_study"))
    parser.add_argument("--tiny", action="store_true", help="a CPU dry run")
    args = parser.parse_args()
    for run in args.runs:
        if run.split(":")[0] not in ARMS:
            parser.error(f"unknown arm in {run!r}; arms: {', '.join(ARMS)}")
    t0 = time.time()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.work.exists():
        shutil.rmtree(args.work)
    data, logs = args.work / "clouds", args.work / "logs"
    logs.mkdir(parents=True)
    subprocess.run([sys.executable, str(REPO / "scripts" / "pack_prepared.py"), "unpack",
                    "--src", str(args.pack), "--dst", str(data)], check=True,
                   stderr=open(logs / "unpack.log", "w"))
    plan = {"unpacked_s": round(time.time() - t0, 1), "runs": args.runs, "recipe": RECIPE}
    print(f"unpacked in {plan['unpacked_s']} s", flush=True)

    # 1. The probe: every run at once for a few epochs; the slowest run's epoch sets the plan.
    probe = train_commands(args.runs, PROBE_EPOCHS, args.work / "probe", data, args)
    codes = run_all({f"probe_{k}": v for k, v in probe.items()}, logs)
    epoch_s = []
    for name in probe:
        history = [json.loads(line) for line in
                   open(args.work / "probe" / name / "history.jsonl")]
        epoch_s.append(statistics.median(h["epoch_s"] for h in history[1:]))
    plan["probe_codes"], plan["probe_epoch_s"] = codes, dict(zip(probe, epoch_s, strict=True))
    epochs = max(PROBE_EPOCHS, int(0.92 * args.budget / max(epoch_s)))
    plan.update({"epochs": epochs, "budget_s": args.budget,
                 "probe_done_s": round(time.time() - t0, 1)})
    print(f"probe: {max(epoch_s):.1f} s an epoch (slowest of {len(epoch_s)} runs side by "
          f"side) -> {epochs} epochs", flush=True)

    # 2. The runs, side by side, then each final evaluated on the test split.
    runs = train_commands(args.runs, epochs, args.work / "runs", data, args)
    plan["train_codes"] = run_all(runs, logs)
    plan["trained_s"] = round(time.time() - t0, 1)
    device = "cpu" if args.tiny else "cuda"
    evals = {f"eval_{name}": ["evaluate", "--checkpoint",
                              str(args.work / "runs" / name / "final.safetensors"),
                              "--data", str(data), "--device", device, "--workers", "2",
                              "--json", str(args.work / "runs" / name / "evaluation.json")]
             for name in runs if (args.work / "runs" / name / "final.safetensors").is_file()}
    plan["eval_codes"] = run_all(evals, logs)
    plan["done_s"] = round(time.time() - t0, 1)

    results = {}
    for name in runs:
        run = args.work / "runs" / name
        entry = {"history": [json.loads(line) for line in open(run / "history.jsonl")]
                 if (run / "history.jsonl").is_file() else []}
        if (run / "evaluation.json").is_file():
            entry["evaluation"] = json.loads((run / "evaluation.json").read_text())
        results[name] = entry
    (args.out / "study.json").write_text(json.dumps({"plan": plan, "runs": results},
                                                    indent=1) + "\n")
    for role, run in (("final", args.ship), ("control", args.control)):
        src = args.work / "runs" / run.replace(":", "_s")
        for suffix in (".safetensors", ".json"):
            if (src / f"final{suffix}").is_file():
                shutil.copy(src / f"final{suffix}", args.out / f"{role}{suffix}")
    with tarfile.open(args.out / "logs.tar.gz", "w:gz") as tar:
        tar.add(logs, arcname="logs")
    for name, entry in results.items():
        ev = entry.get("evaluation", {})
        print(f"{name}: Rank-1 {ev.get('rank1', float('nan')):.1f} "
              f"mAP {ev.get('mAP', float('nan')):.1f}", flush=True)
    print(json.dumps(plan), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
