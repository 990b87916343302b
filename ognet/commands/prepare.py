"""``python -m ognet prepare``: lift a whole Market-1501-format dataset to point clouds.

Keeps the layout (``bounding_box_train``, ``bounding_box_test``, ``query``), one ``.npz`` per
image written atomically with ``ognet.pointcloud.save_cloud``. Resumable: finished files are
skipped, and an interrupted run leaves no partial file. Ends with a report of fallbacks and
failures (also written to ``DST/prepare_report.json``).

Scaling out: ``--workers N`` lifts in N processes on one machine (one torch thread each), and
``--shard i/n`` lifts only the i-th of n disjoint slices of the images, so n machines (or n
jobs) can share one dataset and write into one ``DST`` tree (a shared file system): every
file is written to a temporary name and renamed, so writers never see each other's partial
files. An image belongs to shard ``crc32(split/name) mod n``: decided by its name alone, the
same on every machine whatever else is in the folders, and stable when images are added.
Each shard resumes on its own and writes ``DST/prepare_report.shard-i-of-n.json``; running
``prepare`` unsharded afterwards lifts whatever is still missing and writes the full report.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import time
import zlib
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
    parser.add_argument("--lifting", default=None,
                        help="one of ognet.lift.LIFTINGS (default: the first, the lifting "
                        "of the app); recorded in the report, which `index` reads")
    parser.add_argument("--limit", type=int, default=0,
                        help="stop after lifting this many new images (0: all)")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="I/N",
                        help="lift only slice I of N (0 <= I < N) of the images, e.g. 0/4 "
                        "... 3/4 on four machines writing into one DST")


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/n"`` -> ``(i, n)`` with ``0 <= i < n``; argparse shows the message otherwise."""
    import argparse

    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not I/N, e.g. 0/4") from None
    if not 0 <= i < n:
        raise argparse.ArgumentTypeError(f"{text!r}: need 0 <= I < N")
    return i, n


def shard_of(image: Path, n: int) -> int:
    """The shard (of ``n``) that lifts ``image``: ``crc32("split/name") mod n``."""
    return zlib.crc32(f"{image.parent.name}/{image.name}".encode()) % n


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


def _init_worker(body_model_dir, lifting):
    import torch

    torch.set_num_threads(1)
    global _LIFTER
    from ognet.lift import Lifter

    _LIFTER = Lifter(body_model_dir, lifting=lifting)


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


def _results(todo, workers: int, body_model_dir, lifting: str):
    """Lift ``todo`` in ``workers`` spawned processes (or here when 0); yields in any order."""
    if not todo:
        return
    if workers <= 0:
        global _LIFTER
        from ognet.lift import Lifter

        _LIFTER = Lifter(body_model_dir, lifting=lifting)
        yield from map(_lift_one, todo)
        return
    ctx = mp.get_context("spawn")
    workers = min(workers, len(todo))
    with ctx.Pool(workers, initializer=_init_worker,
                  initargs=(body_model_dir, lifting)) as pool:
        yield from pool.imap_unordered(_lift_one, todo, chunksize=4)


def run(args) -> int:
    from tqdm import tqdm

    from ognet.body import BodyModelError, load_body_model
    from ognet.lift import LIFTINGS

    lifting = args.lifting or LIFTINGS[0]
    if lifting not in LIFTINGS:
        print(f"error: unknown lifting {lifting!r}; one of {', '.join(LIFTINGS)}")
        return 2
    src, dst = Path(args.src), Path(args.dst)
    jobs = list_jobs(src, dst)
    try:  # fail here, with the reason, rather than in every worker's start-up
        load_body_model(args.body_model_dir)
    except BodyModelError as exc:
        print(f"error: {exc}")
        return 2
    if args.shard is not None:
        jobs = [job for job in jobs if shard_of(job[0], args.shard[1]) == args.shard[0]]
    todo = [job for job in jobs if not job[1].exists()]
    if args.limit:
        todo = todo[: args.limit]
    shard = f" in shard {args.shard[0]}/{args.shard[1]}" if args.shard else ""
    print(f"{len(jobs)} images{shard}, {len(jobs) - len(todo)} already lifted, "
          f"{len(todo)} to do")
    counts = {"pose": 0, "fallback": 0, "failed": 0}
    problems = []
    t0 = time.time()
    first = None  # seconds until the first image was done (the workers' start-up)
    with tqdm(total=len(todo), unit="img", desc="lifting") as bar:
        for image, method, error in _results(todo, args.workers, args.body_model_dir, lifting):
            first = time.time() - t0 if first is None else first
            counts[method] += 1
            if method != "pose":
                problems.append({"image": image, "method": method, "error": error})
            bar.update()
    elapsed = time.time() - t0
    rate = len(todo) / elapsed if elapsed > 0 else 0.0
    steady = (len(todo) - 1) / (elapsed - first) if len(todo) > 1 and elapsed > first else rate
    report = {"images": len(jobs), "lifting": lifting,
              "shard": list(args.shard) if args.shard else None,
              "workers": args.workers, "lifted": len(todo), "seconds": round(elapsed, 1),
              "images_per_second": round(rate, 2), "startup_seconds": round(first or 0.0, 1),
              "images_per_second_after_startup": round(steady, 2), **counts,
              "problems": problems}
    dst.mkdir(parents=True, exist_ok=True)
    name = "prepare_report.json" if args.shard is None else \
        f"prepare_report.shard-{args.shard[0]}-of-{args.shard[1]}.json"
    (dst / name).write_text(json.dumps(report, indent=2))
    print(f"lifted {len(todo)} images in {elapsed:.0f} s ({rate:.1f} images/s; "
          f"{steady:.1f} images/s after {first or 0.0:.0f} s of start-up): "
          f"{counts['pose']} pose, {counts['fallback']} fallback, {counts['failed']} failed")
    for p in problems[:10]:
        print(f"  {p['method']}: {p['image']} {p['error']}")
    return 0 if counts["failed"] < max(1, len(todo)) else 1
