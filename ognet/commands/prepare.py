"""``python -m ognet prepare``: lift a whole Market-1501-format dataset to point clouds.

Keeps the layout (``bounding_box_train``, ``bounding_box_test``, ``query``), one ``.npz`` per
image written atomically with ``ognet.pointcloud.save_cloud``. Resumable: finished files are
skipped, and an interrupted run leaves no partial file. Ends with a report of fallbacks and
failures (also written to ``DST/prepare_report.json``).
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from pathlib import Path

NAME = "prepare"
HELP = "lift a Market-1501-format dataset of images to colored point clouds"

SPLITS = ("bounding_box_train", "bounding_box_test", "query")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def add_arguments(parser):
    parser.add_argument("--src", required=True, help="dataset folder with the three splits")
    parser.add_argument("--dst", required=True, help="output folder (same layout, .npz files)")
    parser.add_argument("--workers", type=int, default=2,
                        help="worker processes (default 2; 0 lifts in this process)")
    parser.add_argument("--body-model-dir", default=None,
                        help="official SMPL files (default: the free body in assets/)")
    parser.add_argument("--limit", type=int, default=0,
                        help="stop after lifting this many new images (0: all)")


def list_jobs(src: Path, dst: Path) -> list[tuple[Path, Path]]:
    """(image, cloud) pairs of every image in the three splits, in a stable order."""
    folders = [src / s for s in SPLITS if (src / s).is_dir()]
    if not folders:
        raise SystemExit(f"error: {src} has none of {', '.join(SPLITS)}")
    jobs = []
    for folder in folders:
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                jobs.append((path, dst / folder.name / (path.stem + ".npz")))
    return jobs


_LIFTER = None


def _init_worker(body_model_dir):
    import torch

    torch.set_num_threads(1)
    global _LIFTER
    from ognet.lift import Lifter

    _LIFTER = Lifter(body_model_dir)


def _lift_one(job):
    from ognet.lift import LiftError
    from ognet.pointcloud import save_cloud

    image, cloud = job
    try:
        result = _LIFTER(image)
    except LiftError as exc:
        return str(image), "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - one bad image must not stop a whole dataset
        return str(image), "failed", f"{type(exc).__name__}: {exc}"
    save_cloud(cloud, result.points, result.foreground, result.method)
    return str(image), result.method, ""


def _results(todo, workers: int, body_model_dir):
    """Lift ``todo`` in ``workers`` spawned processes (or here when 0); yields in any order."""
    if not todo:
        return
    if workers <= 0:
        global _LIFTER
        from ognet.lift import get_lifter

        _LIFTER = get_lifter(body_model_dir)
        yield from map(_lift_one, todo)
        return
    ctx = mp.get_context("spawn")
    workers = min(workers, len(todo))
    with ctx.Pool(workers, initializer=_init_worker, initargs=(body_model_dir,)) as pool:
        yield from pool.imap_unordered(_lift_one, todo, chunksize=4)


def run(args) -> int:
    from tqdm import tqdm

    from ognet.body import BodyModelError, load_body_model

    src, dst = Path(args.src), Path(args.dst)
    jobs = list_jobs(src, dst)
    try:  # fail here, with the reason, rather than in every worker's start-up
        load_body_model(args.body_model_dir)
    except BodyModelError as exc:
        print(f"error: {exc}")
        return 2
    todo = [job for job in jobs if not job[1].exists()]
    if args.limit:
        todo = todo[: args.limit]
    print(f"{len(jobs)} images, {len(jobs) - len(todo)} already lifted, {len(todo)} to do")
    counts = {"pose": 0, "fallback": 0, "failed": 0}
    problems = []
    t0 = time.time()
    first = None  # seconds until the first image was done (the workers' start-up)
    with tqdm(total=len(todo), unit="img", desc="lifting") as bar:
        for image, method, error in _results(todo, args.workers, args.body_model_dir):
            first = time.time() - t0 if first is None else first
            counts[method] += 1
            if method != "pose":
                problems.append({"image": image, "method": method, "error": error})
            bar.update()
    elapsed = time.time() - t0
    rate = len(todo) / elapsed if elapsed > 0 else 0.0
    steady = (len(todo) - 1) / (elapsed - first) if len(todo) > 1 and elapsed > first else rate
    report = {"images": len(jobs), "lifted": len(todo), "seconds": round(elapsed, 1),
              "images_per_second": round(rate, 2), "startup_seconds": round(first or 0.0, 1),
              "images_per_second_after_startup": round(steady, 2), **counts,
              "problems": problems}
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "prepare_report.json").write_text(json.dumps(report, indent=2))
    print(f"lifted {len(todo)} images in {elapsed:.0f} s ({rate:.1f} images/s; "
          f"{steady:.1f} images/s after {first or 0.0:.0f} s of start-up): "
          f"{counts['pose']} pose, {counts['fallback']} fallback, {counts['failed']} failed")
    for p in problems[:10]:
        print(f"  {p['method']}: {p['image']} {p['error']}")
    return 0 if counts["failed"] < max(1, len(todo)) else 1
