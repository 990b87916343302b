"""Rebuild the demo model, gallery and example queries in ``assets/`` from scratch.

    .venv/bin/python scripts/build_demo_assets.py [--work data/demo] [--identities 120]
                                                  [--epochs 20] [--seed 0]

Steps (each one a ``python -m ognet`` command, printed before it runs):

1. ``synth``: a synthetic Market-1501-format dataset (half the identities train, half test).
2. ``prepare``: lift every image to a colored point cloud (the same lifting as the app).
3. ``train``: OG-Net-Small from scratch on the lifted training split, and the 2D control
   (the same network and hyper-parameters on clouds with z = 0, the paper's Table I).
4. ``evaluate``: Rank-1/5/10 and mAP of both on the synthetic test split.
5. ``index``: the gallery index of the test split with the 3D checkpoint.
6. Copies into ``assets/``: the checkpoint pair (``assets/model/``), the gallery
   (``assets/gallery/``), a handful of query images of gallery identities
   (``assets/examples/``), and a small evaluation subset (``assets/model/eval_subset.npz``:
   model-ready clouds of a few test identities with the Rank-1/mAP the shipped checkpoint
   reaches on it, which ``tests/test_assets.py`` reproduces).

The demo model sees 2048 points per cloud with every stage halved (2048 -> 384 -> 192 -> 96
-> 48) instead of the paper's 4096 -> 768 -> ... : the difference between training in about
half an hour on a 2-core CPU and training for hours. Everything else follows the paper's
defaults (batch 36, Adam with amsgrad, lr 8e-4, cosine schedule with warm-up, dropout 0.7,
k = 20, cross-entropy).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.assets import ASSETS_DIR, DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR  # noqa: E402

DEMO_MODEL = ["--model", "ognet_small", "--num-points", "2048",
              "--set", "stage_points=[384,192,96,48]"]


def ognet(*args: str) -> None:
    cmd = [sys.executable, "-m", "ognet", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=REPO)
    print(f"  ({time.time() - t0:.0f} s)", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", default="data/demo", help="working folder (not committed)")
    parser.add_argument("--identities", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=6, help="example queries to ship")
    parser.add_argument("--reuse-training", action="store_true",
                        help="keep the images and trained runs in WORK; lift, evaluate and "
                             "index again (after a change to the lifting)")
    args = parser.parse_args()

    work = (REPO / args.work).resolve()
    images, clouds = work / "images", work / "clouds"
    runs = {"3d": work / "run_3d", "2d": work / "run_2d"}
    started = time.time()

    if not args.reuse_training:
        ognet("synth", "--out", str(images), "--identities", str(args.identities),
              "--seed", str(args.seed))
    if clouds.exists():
        shutil.rmtree(clouds)
    ognet("prepare", "--src", str(images), "--dst", str(clouds), "--workers", "2")
    if not args.reuse_training:
        train_both(clouds, runs, args)
    for run in runs.values():
        ognet("evaluate", "--checkpoint", str(run / "best.safetensors"), "--data", str(clouds),
              "--json", str(run / "evaluation.json"))

    # Ship the 3D checkpoint pair, the gallery and the example queries.
    DEFAULT_CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    for suffix in (".safetensors", ".json"):
        shutil.copy(runs["3d"] / f"best{suffix}", DEFAULT_CHECKPOINT.with_suffix(suffix))
    if DEFAULT_GALLERY.exists():
        shutil.rmtree(DEFAULT_GALLERY)
    ognet("index", "--checkpoint", str(DEFAULT_CHECKPOINT), "--data", str(clouds),
          "--images", str(images), "--out", str(DEFAULT_GALLERY))
    portable_gallery(images)
    write_examples(images / "query", args.examples, args.seed)
    write_eval_subset(clouds, images)

    summary = {name: {k: v for k, v in json.loads((run / "evaluation.json").read_text()).items()
                      if k != "cmc"} for name, run in runs.items()}
    (ASSETS_DIR / "model" / "training_summary.json").write_text(json.dumps(
        {"identities": args.identities, "epochs": args.epochs, "seed": args.seed,
         "minutes": round((time.time() - started) / 60, 1), "metrics": summary}, indent=2))
    print(json.dumps(summary, indent=2))
    return 0


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


def train_both(clouds: Path, runs: dict, args) -> None:
    """The 3D model and the 2D control (z = 0), side by side, one core each."""
    common = ["--data", str(clouds), *DEMO_MODEL, "--epochs", str(args.epochs),
              "--warmup-epochs", "2", "--workers", "0", "--seed", str(args.seed),
              "--eval-every", str(max(1, args.epochs // 4)), "--quiet"]
    procs = []
    for name, extra in (("3d", []), ("2d", ["--z-zero"])):
        cmd = [sys.executable, "-m", "ognet", "train", *common, *extra, "--out", str(runs[name])]
        print("$", " ".join(cmd[1:]), flush=True)
        procs.append(subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    t0 = time.time()
    if any(p.wait() for p in procs):
        raise SystemExit("training failed")
    print(f"  (both trained in {time.time() - t0:.0f} s)", flush=True)


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


def write_eval_subset(clouds: Path, images: Path, identities: int = 12) -> None:
    """Model-ready clouds of a few test identities + the metrics the checkpoint gets on them."""
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
    points = np.stack([sample_points(load_cloud(it.cloud_path)["points"], n_points, seed=0)
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
          f"Rank-1 {cmc[0]:.4f}, mAP {mAP:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
