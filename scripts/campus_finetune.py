"""Fine-tune a checkpoint on half of the campus people; evaluate it on the other half only.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python scripts/campus_finetune.py \
        [--checkpoint assets/model/ognet_small_synth.safetensors] [--control Z0.safetensors] \
        [--clouds data/campus/clouds] [--work data/campus_finetune] [--epochs 4] [--lr 3e-4] \
        [--seed 0]

Issue 10: does a fine-tune on real campus people that the evaluation never sees help a model
trained on synthetic people? The campus set (``python -m ognet campus`` then ``prepare``,
as ``scripts/build_campus_assets.py`` builds it in ``data/campus/clouds``) has 10 people.

**Split (a fixed rule, two folds).** The identities in pid order, odd pids (1001, 1003, 1005,
1007, 1009) one half, even pids (1002, ..., 1010) the other. Fold ``odd->even`` fine-tunes on
every crop of the odd half (its query and gallery crops; the cameras, here walking directions,
play no part in training) and evaluates on the even half's query / gallery split alone; fold
``even->odd`` the other way round. Over the two folds every query of the set is evaluated
exactly once, always by a model that never saw its person. The folders are symlinks into
``--clouds`` (nothing copied), under ``WORK/<first 8 hex of the checkpoint's
sha256>_e<epochs>_lr<lr>[_s<seed>]/``. ``--epochs 1 --lr 0`` leaves the weights as they are and
only re-estimates batch norm on the training half (the ``final`` step): the share of a
fine-tune's effect that is batch-norm statistics alone.

**Per model and fold** (the 3D checkpoint, then the z = 0 control with ``--control``), each a
``python -m ognet`` command printed before it runs:

1. ``evaluate`` the checkpoint as it is on the evaluation half (Market-1501 protocol,
   trapezoid AP, one-pass features);
2. ``train --init CHECKPOINT``: the checkpoint's own training config (its JSON's
   ``train_config``: model, points, augmentation, balanced sampler, batch 36, weight averaging
   of the last 10% of the epochs with batch norm re-estimated), with a new classifier for
   the half's 5 identities, ``--epochs`` epochs (default 4) at ``--lr`` (default 3e-4, 0.3 of
   the recipe's 1e-3), no warm-up, cosine to 1%, ``--seed`` (0); the config is written
   beside the run;
3. ``evaluate`` the fine-tuned ``final`` on the same evaluation half;

and chance (a random ranking, mean of 200). Prints a table per fold and the two folds pooled
(each metric a mean over all queries of both folds), and writes ``results.json`` in that
folder.
A step whose output exists is skipped (rerun to continue).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from build_campus_assets import chance  # noqa: E402

from ognet.assets import DEFAULT_CHECKPOINT  # noqa: E402
from ognet.engine import read_checkpoint_meta  # noqa: E402

FOLDS = {"odd->even": (1, 0), "even->odd": (0, 1)}   # (train parity, evaluation parity)
METRICS = ("rank1", "rank5", "rank10", "mAP")


def split_folders(clouds: Path, fold_dir: Path, train_parity: int, eval_parity: int) -> dict:
    """Symlinked Market-format folders of one fold: ``train/bounding_box_train`` (every crop
    of the training half) and ``eval/{query,bounding_box_test}`` (the evaluation half)."""
    counts = {"train": 0, "query": 0, "bounding_box_test": 0}
    train_pids, eval_pids = set(), set()
    for split in ("query", "bounding_box_test"):
        for f in sorted((clouds / split).glob("*.npz")):
            pid = int(f.name.split("_")[0])
            if pid <= 0:
                continue            # junk / distractor ids: the campus set has none
            if pid % 2 == train_parity:
                dst, key = fold_dir / "train" / "bounding_box_train" / f.name, "train"
                train_pids.add(pid)
            elif pid % 2 == eval_parity:
                dst, key = fold_dir / "eval" / split / f.name, split
                eval_pids.add(pid)
            dst.parent.mkdir(parents=True, exist_ok=True)
            if dst.is_symlink() and dst.resolve() != f.resolve():
                raise SystemExit(f"{dst}: two crops of that name (query and gallery)")
            if not dst.is_symlink():
                dst.symlink_to(f.resolve())
            counts[key] += 1
    return {"train_pids": sorted(train_pids), "eval_pids": sorted(eval_pids), **counts}


def ognet(*args: str) -> float:
    cmd = [sys.executable, "-m", "ognet", *args]
    print("$", " ".join(["python", *cmd[1:]]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=REPO)
    print(f"  ({time.time() - t0:.0f} s)", flush=True)
    return time.time() - t0


def evaluate(checkpoint: Path, data: Path, out: Path) -> dict:
    if not out.is_file():
        ognet("evaluate", "--checkpoint", str(checkpoint), "--data", str(data), "--workers",
              "0", "--json", str(out))
    result = json.loads(out.read_text())
    return {**{k: round(result[k], 2) for k in METRICS}, "num_query": result["num_query"],
            "num_gallery": result["num_gallery"]}


def fine_tune(checkpoint: Path, train_data: Path, out: Path, epochs: int, lr: float,
              seed: int) -> Path:
    """``train --init checkpoint`` with the checkpoint's own training config; returns final."""
    recipe = read_checkpoint_meta(checkpoint).get("train_config")
    if not recipe:
        raise SystemExit(f"{checkpoint}: its JSON has no train_config to fine-tune with")
    config = {**recipe, "data": str(train_data), "out_dir": str(out), "init": str(checkpoint),
              "epochs": epochs, "lr": lr, "warmup_epochs": 0, "seed": seed, "resume": False,
              "eval_every": 0, "val_identities": 0, "workers": 0}
    final = out / "final.safetensors"
    if not final.is_file():
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(config, indent=1) + "\n")
        ognet("train", "--config", str(out / "config.json"), "--quiet")
    return final


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pooled(rows: list[dict]) -> dict:
    """Metrics over all queries of the folds (each fold's mean weighted by its queries)."""
    n = sum(r["num_query"] for r in rows)
    return {**{k: round(sum(r[k] * r["num_query"] for r in rows) / n, 2) for k in METRICS},
            "num_query": n}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    parser.add_argument("--control", help="the z = 0 control checkpoint: the same steps")
    parser.add_argument("--clouds", default="data/campus/clouds",
                        help="the lifted campus set (query/ and bounding_box_test/)")
    parser.add_argument("--work", default="data/campus_finetune")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=3e-4)
    parser.add_argument("--seed", type=int, default=0, help="the fine-tune's seed")
    args = parser.parse_args()
    clouds = (REPO / args.clouds).resolve()
    if not (clouds / "query").is_dir():
        raise SystemExit(f"{clouds}: no lifted campus set; build it with "
                         "scripts/build_campus_assets.py (campus, then prepare)")
    models = {"3d": (REPO / args.checkpoint).resolve()}
    if args.control:
        models["2d_control"] = (REPO / args.control).resolve()
    digest = sha256(models["3d"])
    tag = f"{digest[:8]}_e{args.epochs}_lr{args.lr:g}" + (f"_s{args.seed}" if args.seed else "")
    work = (REPO / args.work).resolve() / tag
    os.environ["OMP_NUM_THREADS"] = os.environ.get("OMP_NUM_THREADS", "1")
    results = {"checkpoints": {name: {"path": os.path.relpath(p, REPO), "sha256": sha256(p)}
                               for name, p in models.items()},
               "epochs": args.epochs, "lr": args.lr, "seed": args.seed}
    t0 = time.time()
    folds = {}
    for fold, (train_parity, eval_parity) in FOLDS.items():
        fold_dir = work / fold.replace("->", "_to_")
        info = split_folders(clouds, fold_dir, train_parity, eval_parity)
        print(f"fold {fold}: fine-tune on pids {info['train_pids']} ({info['train']} crops), "
              f"evaluate on pids {info['eval_pids']} ({info['query']} queries, "
              f"{info['bounding_box_test']} gallery)", flush=True)
        rows = {"chance": {**{k: round(v, 2) for k, v in chance(fold_dir / "eval").items()
                              if k in METRICS}, "num_query": info["query"]}}
        folds[fold] = (fold_dir, info, rows)
    for name, ckpt in models.items():          # the 3D model first, both folds, then the control
        for fold_dir, _, rows in folds.values():
            rows[name] = evaluate(ckpt, fold_dir / "eval", fold_dir / f"eval_{name}.json")
            final = fine_tune(ckpt, fold_dir / "train", fold_dir / f"finetune_{name}",
                              args.epochs, args.lr, args.seed)
            rows[f"{name}_finetuned"] = evaluate(final, fold_dir / "eval",
                                                 fold_dir / f"eval_{name}_finetuned.json")
    results["folds"] = {fold: {**info, "metrics": rows} for fold, (_, info, rows)
                        in folds.items()}
    names = list(results["folds"]["odd->even"]["metrics"])
    results["pooled"] = {n: pooled([f["metrics"][n] for f in results["folds"].values()])
                         for n in names}
    results["minutes"] = round((time.time() - t0) / 60, 1)
    (work / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    print(f"\ncheckpoint sha256 {digest[:8]}, {args.epochs} epochs at lr {args.lr}, "
          f"seed {args.seed}")
    print("| model | fold | queries | Rank-1 | Rank-5 | Rank-10 | mAP |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for fold, block in [*((f, v["metrics"]) for f, v in results["folds"].items()),
                        ("pooled", results["pooled"])]:
        for name, r in block.items():
            print(f"| {name} | {fold} | {r['num_query']} | "
                  + " | ".join(f"{r[k]:.1f}" for k in METRICS) + " |")
    print(f"results: {os.path.relpath(work / 'results.json', REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
