"""Rebuild the demo model, gallery and example queries in ``assets/``, and the 3D-vs-2D study.

    .venv/bin/python scripts/build_demo_assets.py [--work data/study] [--identities 200]
        [--epochs 30] [--seeds 0 1 2] [--parallel 2] [--reuse-images]

Steps (each ``python -m ognet`` command is printed before it runs):

1. ``synth``: a synthetic Market-1501-format dataset (half the identities train, half test).
2. ``prepare``: lift every image to a colored point cloud (the same lifting as the app).
   ``--reuse-images`` skips 1 and 2 when ``WORK/clouds/prepare_report.json`` exists.
3. ``train`` then ``evaluate``, for every seed, of OG-Net-Small on the lifted training split
   (3D) and of the 2D control (the same run with z = 0, the paper's Table I), ``--parallel``
   runs at a time with one torch thread each. ``evaluate`` reads each run's ``final``
   checkpoint (the weight average: nothing is chosen on the test split), one-pass features,
   Market-1501 protocol, both AP definitions. Finished steps are kept: re-running the script
   resumes the study. ``WORK/study.json`` holds every run and the mean and spread over the
   seeds.
5. Ships the first seed's 3D checkpoint: ``assets/model/`` (checkpoint pair,
   ``training_summary.json``, ``eval_subset.npz``: model-ready clouds of a few test
   identities with the Rank-1/mAP the checkpoint reaches on them, which
   ``tests/test_assets.py`` reproduces), the gallery index of the test split
   (``assets/gallery/``) and example queries of gallery identities (``assets/examples/``).

The recipe is ``configs/ognet_small_market.yaml`` (the authors' OG-Net-Small command: batch
36, lr 1e-3, weight decay 5e-4, balanced sampling, per-axis scale / jitter / flip, cosine to
1%, weights averaged over the last 10% of the epochs) with what a CPU build changes: 2048
points per cloud with every stage halved (2048 -> 384 -> 192 -> 96 -> 48) instead of 4096 ->
768 -> ..., ``--epochs`` instead of 1000, and a warm-up of a tenth of the epochs (rounded
down) instead of 10.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.assets import ASSETS_DIR, DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR  # noqa: E402

RECIPE = "configs/ognet_small_market.yaml"
#: The demo model: 2048 points per cloud, every stage halved.
DEMO_MODEL = ["--num-points", "2048", "--set", "stage_points=[384,192,96,48]"]
INPUTS = {"3d": [], "2d": ["--z-zero"]}


def ognet(*args: str) -> None:
    cmd = [sys.executable, "-m", "ognet", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=REPO)
    print(f"  ({time.time() - t0:.0f} s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="data/study", help="working folder (not committed)")
    parser.add_argument("--identities", type=int, default=200)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="training seeds; the first one's 3D run is shipped")
    parser.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data")
    parser.add_argument("--parallel", type=int, default=2, help="trainings at once")
    parser.add_argument("--examples", type=int, default=6, help="example queries to ship")
    parser.add_argument("--reuse-images", action="store_true",
                        help="keep WORK/images and WORK/clouds when they are complete")
    parser.add_argument("--model", default=" ".join(DEMO_MODEL), metavar="FLAGS",
                        help="train flags of the model, one string (default: the demo model, "
                        "%(default)s)")
    parser.add_argument("--runs", default="runs", help="folder of the runs inside WORK")
    parser.add_argument("--no-ship", action="store_true",
                        help="run the study only; leave assets/ alone")
    parser.add_argument("--checkpoint", type=Path, default=None,
                        help="ship this checkpoint (X.safetensors + X.json) instead of the "
                        "first seed's 3D run: one trained elsewhere on WORK/clouds' training "
                        "split (a lent GPU: scripts/device_train.sh); it is evaluated here on "
                        "the test split like every run, and no study is run")
    args = parser.parse_args()
    args.model = shlex.split(args.model)

    work = (REPO / args.work).resolve()
    images, clouds = work / "images", work / "clouds"
    started = time.time()
    if not (args.reuse_images and (clouds / "prepare_report.json").is_file()):
        ognet("synth", "--out", str(images), "--identities", str(args.identities),
              "--seed", str(args.data_seed))
        if clouds.exists():
            shutil.rmtree(clouds)
        ognet("prepare", "--src", str(images), "--dst", str(clouds), "--workers", "2")
    if args.checkpoint:
        shipped = work / args.runs / "run_shipped"
        shipped.mkdir(parents=True, exist_ok=True)
        old = shipped / "final.safetensors"
        if old.is_file() and old.read_bytes() != args.checkpoint.read_bytes():
            (shipped / "evaluation.json").unlink(missing_ok=True)  # another checkpoint
        for suffix in (".safetensors", ".json"):
            shutil.copy(args.checkpoint.with_suffix(suffix), shipped / f"final{suffix}")
        if not (shipped / "evaluation.json").is_file():  # kept: a rerun resumes
            ognet("evaluate", "--checkpoint", str(shipped / "final.safetensors"), "--data",
                  str(clouds), "--device", "cpu", "--json", str(shipped / "evaluation.json"))
        results = {("3d", args.seeds[0]): read_run(shipped)}
        study = None
    else:
        runs = {(name, seed): work / args.runs / f"run_{name}_s{seed}" for seed in args.seeds
                for name in INPUTS}
        train_all(clouds, runs, args)
        results = {key: read_run(run) for key, run in runs.items()}
        study = summarize_study(results, args)
        (work / args.runs / "study.json").write_text(json.dumps(study, indent=2) + "\n")
        print(markdown_table(study))
        shipped = runs[("3d", args.seeds[0])]
    if args.no_ship:
        return 0

    DEFAULT_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(shipped / f"final{suffix}", DEFAULT_CHECKPOINT.with_suffix(suffix))
    if DEFAULT_GALLERY.exists():
        shutil.rmtree(DEFAULT_GALLERY)
    ognet("index", "--checkpoint", str(DEFAULT_CHECKPOINT), "--data", str(clouds),
          "--images", str(images), "--out", str(DEFAULT_GALLERY), "--people", "synthetic")
    portable_gallery(images)
    write_examples(images / "query", args.examples, args.data_seed)
    write_eval_subset(clouds)
    summary = {"identities": args.identities, "data_seed": args.data_seed,
               "shipped": f"{shipped.name}/final (weight-averaged)",
               "minutes": round((time.time() - started) / 60, 1),
               "metrics": {name: results[(name, args.seeds[0])] for name in INPUTS
                           if (name, args.seeds[0]) in results}}
    if args.checkpoint:
        meta = json.loads((shipped / "final.json").read_text())
        summary.update({"trained_elsewhere": str(args.checkpoint),
                        "recipe": meta.get("train_config"), "epochs": meta.get("epoch")})
    else:
        summary.update({"epochs": args.epochs, "seeds": args.seeds, "recipe": RECIPE,
                        "model": args.model, "study": study["summary"]})
    (ASSETS_DIR / "model" / "training_summary.json").write_text(json.dumps(summary, indent=2)
                                                                 + "\n")
    return 0


def train_all(clouds: Path, runs: dict, args) -> None:
    """Train and evaluate every (input, seed) run that has no ``evaluation.json`` yet,
    ``args.parallel`` runs at a time, each with one torch thread; a run whose ``final``
    checkpoint exists is only evaluated, one with a ``last`` resumes."""
    warmup = args.epochs // 10
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pending = []
    for (name, seed), run in runs.items():
        steps = []
        if not (run / "final.safetensors").is_file():
            steps.append(["train", "--config", RECIPE, "--data", str(clouds), *args.model,
                          "--epochs", str(args.epochs), "--warmup-epochs", str(warmup),
                          "--workers", "0", "--eval-every", "0", "--seed", str(seed),
                          "--device", "cpu", *INPUTS[name], "--out", str(run), "--quiet",
                          *(["--resume"] if (run / "last.safetensors").is_file() else [])])
        if steps or not (run / "evaluation.json").is_file():
            steps.append(["evaluate", "--checkpoint", str(run / "final.safetensors"), "--data",
                          str(clouds), "--device", "cpu", "--workers", "0",
                          "--json", str(run / "evaluation.json")])
        pending.append((run, steps))
    active = []                      # [run, remaining steps, process, started, log file]
    while pending or active:
        while pending and len(active) < args.parallel:
            run, steps = pending.pop(0)
            if steps:
                run.mkdir(parents=True, exist_ok=True)
                active.append([run, steps, None, time.time(), open(run / "stdout.txt", "a")])
        time.sleep(5)
        for slot in list(active):
            run, steps, proc, t0, log = slot
            if proc is not None and proc.poll() is None:
                continue
            if proc is not None:
                if proc.returncode:
                    raise SystemExit(f"{run.name} failed (see {run / 'stdout.txt'})")
                print(f"  {run.name}: {steps[0][0]} took {time.time() - t0:.0f} s", flush=True)
                (run / f"{steps[0][0]}_s.txt").write_text(f"{time.time() - t0:.0f}\n")
                steps.pop(0)
            if not steps:
                log.close()
                active.remove(slot)
                continue
            cmd = [sys.executable, "-m", "ognet", *steps[0]]
            print("$", " ".join(cmd[1:]), flush=True)
            slot[2:4] = [subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log,
                                          stderr=subprocess.STDOUT), time.time()]


def read_run(run: Path) -> dict:
    """A run's test-split figures (``evaluation.json``) and what its checkpoint says."""
    ev = json.loads((run / "evaluation.json").read_text())
    meta = json.loads((run / "final.json").read_text())
    out = {k: ev[k] for k in ("rank1", "rank5", "rank10", "num_query", "num_gallery")}
    out.update({f"mAP_{mode}": value for mode, value in ev["mAP_by_mode"].items()})
    out.update({"epochs": meta["epoch"], "weight_averaged": meta.get("weight_averaged"),
                "averaged_epochs": meta.get("averaged_epochs"), "z_zero": meta["z_zero"]})
    for step in ("train", "evaluate"):
        f = run / f"{step}_s.txt"
        out[f"{step}_s"] = int(f.read_text()) if f.is_file() else None
    print(f"{run.name}: Rank-1 {out['rank1']:.1f}, mAP {out['mAP_trapezoid']:.1f} (trapezoid) "
          f"/ {out['mAP_step']:.1f} (step)", flush=True)
    return out


def summarize_study(results: dict, args) -> dict:
    """Per input: mean, sample standard deviation, min and max over the seeds."""
    summary = {}
    for name in INPUTS:
        rows = [results[(name, s)] for s in args.seeds]
        summary[name] = {
            metric: {"mean": float(np.mean(v)), "std": float(np.std(v, ddof=1)) if len(v) > 1
                     else 0.0, "min": float(np.min(v)), "max": float(np.max(v))}
            for metric in ("rank1", "rank5", "mAP_trapezoid", "mAP_step")
            for v in [[r[metric] for r in rows]]}
    return {"seeds": args.seeds, "epochs": args.epochs, "model": args.model,
            "runs": {f"{n}_s{s}": r for (n, s), r in results.items()}, "summary": summary}


def markdown_table(study: dict) -> str:
    lines = ["| input | Rank-1 | mAP (trapezoid) | mAP (step) | Rank-1 per seed |",
             "|---|---:|---:|---:|---|"]
    for name, label in (("3d", "3D (lifted xyz + rgb)"), ("2d", "2D control (z = 0)")):
        s = study["summary"][name]
        per_seed = ", ".join(f"{study['runs'][f'{name}_s{seed}']['rank1']:.1f}"
                             for seed in study["seeds"])
        lines.append(f"| {label} | {s['rank1']['mean']:.1f} ± {s['rank1']['std']:.1f} | "
                     f"{s['mAP_trapezoid']['mean']:.1f} ± {s['mAP_trapezoid']['std']:.1f} | "
                     f"{s['mAP_step']['mean']:.1f} ± {s['mAP_step']['std']:.1f} | "
                     f"{per_seed} |")
    return "\n".join(lines)


def portable_gallery(images: Path) -> None:
    """Keep only dataset-relative image names in the shipped gallery (no local paths, no
    prepared clouds: the app lifts a match's stored thumbnail to show it in 3D)."""
    from ognet.gallery import GalleryIndex

    gallery = GalleryIndex.load(DEFAULT_GALLERY)
    gallery.image_paths = [str(Path(p).relative_to(images)) if p else "" for p in
                           gallery.image_paths]
    gallery.cloud_paths = [""] * len(gallery)
    for key in ("checkpoint", "data"):  # provenance relative to the repository
        if gallery.meta.get(key):
            gallery.meta[key] = os.path.relpath(gallery.meta[key], REPO)
    gallery.save(DEFAULT_GALLERY)


def write_examples(query_dir: Path, count: int, seed: int) -> None:
    """Render new views (take 100, never in the dataset) of ``count`` test identities, each
    from a camera where the identity has a query, named Market-style so the app knows who
    they are."""
    from PIL import Image

    from ognet.synth import Synthesizer

    if EXAMPLES_DIR.exists():
        shutil.rmtree(EXAMPLES_DIR)
    EXAMPLES_DIR.mkdir(parents=True)
    synth = Synthesizer(seed)
    seen = set()
    for path in sorted(query_dir.glob("*.jpg")):
        pid, cam = int(path.name[:4]), int(path.name.split("_")[1][1])
        if pid in seen:
            continue
        image = synth.render(pid, cam, 100)
        Image.fromarray(image).save(EXAMPLES_DIR / f"{pid:04d}_c{cam}s1_000100_00.jpg",
                                    quality=92)
        seen.add(pid)
        if len(seen) == count:
            break


def write_eval_subset(clouds: Path, identities: int = 12) -> None:
    """Model-ready clouds of a few test identities + the metrics the checkpoint gets on them
    (trapezoid AP, the default of ``rank_metrics``)."""
    import torch

    from ognet import load_model
    from ognet.data import load_dataset
    from ognet.metrics import rank_metrics
    from ognet.pointcloud import load_cloud, sample_points

    model = load_model(DEFAULT_CHECKPOINT, device="cpu")
    n_points = model.config.num_points
    data = load_dataset(clouds, splits=("query", "gallery"))
    pids = sorted({item.pid for item in data.query})[:identities]
    query = [it for it in data.query if it.pid in pids]
    gallery = [it for it in data.gallery if it.pid in pids]
    items = query + gallery
    # Rounded to float16 first: the file stores float16, and the test must see the same input.
    points = np.stack([sample_points(load_cloud(it.cloud_path)["points"], n_points,
                                     mode="stride")
                       for it in items]).astype(np.float16).astype(np.float32)
    with torch.no_grad():
        feats = torch.cat([model.extract(torch.from_numpy(points[i:i + 36]))
                           for i in range(0, len(points), 36)]).numpy()
    q, g = feats[: len(query)], feats[len(query):]
    cmc, mAP = rank_metrics(1 - q @ g.T, np.array([it.pid for it in query]),
                            np.array([it.pid for it in gallery]),
                            np.array([it.camid for it in query]),
                            np.array([it.camid for it in gallery]))
    np.savez_compressed(
        ASSETS_DIR / "model" / "eval_subset.npz", points=points.astype(np.float16),
        pids=np.array([it.pid for it in items]), camids=np.array([it.camid for it in items]),
        is_query=np.array([True] * len(query) + [False] * len(gallery)),
        rank1=np.float64(cmc[0]), mAP=np.float64(mAP))
    print(f"eval subset: {len(query)} queries, {len(gallery)} gallery, "
          f"Rank-1 {cmc[0]:.4f}, mAP {mAP:.4f} (trapezoid)")


if __name__ == "__main__":
    raise SystemExit(main())
