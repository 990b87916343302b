"""Lifting speed: per-stage time of ``ognet.lift`` per 128x64 crop, and ``prepare`` images/s.

Usage: ``python benchmarks/bench_lift.py [--repeats 5] [--convert 40] [--workers 2]
[--liftings person mean_body]``.
Prints Markdown tables to paste under ``## Lifting`` in BENCHMARKS.md:

1. model load (MediaPipe graph + body model + shape regressor) and the first call, per lifting;
2. median milliseconds per stage (decode, pose, shape, fit, raycast, depth, colors) of each of
   ``--liftings`` after one warm-up call, over ``--repeats`` calls on each image (the
   liftings take turns, call by call), their wall time per call and its ratio: the real
   queries in ``../shared/real-queries`` when present, and rendered bodies (128x64 JPEG
   bytes, as in a dataset);
3. MediaPipe at the crop's size against a 2x upscaled copy (detections and ms);
4. ``python -m ognet prepare`` with ``--workers`` processes on a generated Market-format
   folder of ``--convert`` images (wall time including the workers' start-up).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from test_lift import render_body  # noqa: E402  (the tests' ground-truth renderer)


def _jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=95)
    return buf.getvalue()


def inputs() -> dict[str, object]:
    """name -> image source: the real queries (paths) and rendered bodies (JPEG bytes)."""
    out = {}
    for p in sorted((ROOT.parent / "shared" / "real-queries").glob("market1501_query_*.png")):
        out[p.stem.replace("market1501_", "")] = p
    for yaw in (-0.5, 0.0, 0.5):
        out[f"render_yaw{yaw:+.1f}"] = _jpeg(render_body(yaw=yaw)[0])
    return out


def bench_stages(images: dict, repeats: int, liftings: list[str]) -> None:
    """Per-stage medians of each lifting; the liftings take turns on every call, so that the
    machine's load hits them alike, and their per-call time ratio is printed."""
    from ognet.lift import Lifter

    lifters = {}
    for name in liftings:
        t = time.perf_counter()
        lifters[name] = Lifter(lifting=name)
        load_s = time.perf_counter() - t
        first = next(iter(images.values()))
        t = time.perf_counter()
        lifters[name](first)
        print(f"\n`{name}`: model load (MediaPipe + body + regressor) {load_s:.2f} s; first "
              f"call {(time.perf_counter() - t) * 1000:.0f} ms")
    stages = {name: {} for name in liftings}
    wall = {name: [] for name in liftings}
    rows = []
    for label, src in images.items():
        for lifter in lifters.values():
            lifter(src)  # warm-up
        runs = {name: [] for name in liftings}
        for _ in range(repeats):
            for name, lifter in lifters.items():
                t = time.perf_counter()
                r = lifter(src)
                wall[name].append(time.perf_counter() - t)
                runs[name].append(r)
                for stage, sec in r.timings.items():
                    stages[name].setdefault(stage, []).append(sec * 1000)
        rows.append((label, {n: (runs[n][0].method, np.median(wall[n][-repeats:]) * 1000)
                             for n in liftings}))
    names = list(dict.fromkeys(st for per in stages.values() for st in per))
    print("\n| lifting | " + " | ".join(names) + " | total (wall) |")
    print("|---|" + "---:|" * (len(names) + 1))
    for name in liftings:
        cells = [f"{np.median(stages[name][st]):.1f}" if st in stages[name] else "–"
                 for st in names]
        print(f"| `{name}` | " + " | ".join(cells)
              + f" | **{np.median(wall[name]) * 1000:.1f}** |")
    print("\n| image | " + " | ".join(f"`{n}`: method, ms" for n in liftings) + " |")
    print("|---|" + "---|" * len(liftings))
    for label, per in rows:
        print(f"| {label} | " + " | ".join(f"{m}, {ms:.1f}" for m, ms in per.values()) + " |")
    if len(liftings) > 1:
        base = np.array(wall[liftings[-1]])
        for name in liftings[:-1]:
            print(f"\nper-call time ratio `{name}` / `{liftings[-1]}`: median "
                  f"{np.median(np.array(wall[name]) / base):.2f}")


def bench_upscale(images: dict, repeats: int) -> None:
    from ognet.lift.image import load_image, to_crop
    from ognet.lift.pose import PoseEstimator

    est = PoseEstimator()
    print("\n| pose input | detections | median ms |")
    print("|---|---:|---:|")
    for factor in (1, 2):
        found, times = 0, []
        for src in images.values():
            crop = to_crop(load_image(src))
            if factor > 1:
                crop = np.asarray(Image.fromarray(crop).resize(
                    (crop.shape[1] * factor, crop.shape[0] * factor), Image.BICUBIC))
            est.estimate(crop)
            for _ in range(repeats):
                t = time.perf_counter()
                pose, _ = est.estimate(crop)
                times.append(time.perf_counter() - t)
            found += pose is not None
        print(f"| {128 * factor}x{64 * factor} | {found}/{len(images)} | "
              f"{np.median(times) * 1000:.1f} |")


def bench_convert(count: int, workers: int) -> None:
    from ognet.cli import main

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "market"
        splits = ("bounding_box_train", "bounding_box_test", "query")
        for s in splits:
            (src / s).mkdir(parents=True)
        frames = [render_body(yaw=float(y))[0] for y in np.linspace(-0.8, 0.8, 8)]
        for i in range(count):
            split = splits[i % 3]
            Image.fromarray(frames[i % len(frames)]).save(
                src / split / f"{i // 3 + 1:04d}_c{i % 6 + 1}s1_{i:06d}_00.jpg", quality=90)
        t = time.perf_counter()
        main(["prepare", "--src", str(src), "--dst", str(Path(tmp) / "out"),
              "--workers", str(workers)])
        wall = time.perf_counter() - t
        report = json.loads((Path(tmp) / "out" / "prepare_report.json").read_text())
    print(f"\nprepare, {count} images, {workers} workers: {wall:.1f} s wall, "
          f"{count / wall:.1f} images/s including {report['startup_seconds']:.1f} s of "
          f"start-up; {report['images_per_second_after_startup']:.1f} images/s after it")


def main() -> None:
    from ognet.lift import LIFTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--convert", type=int, default=40, help="images for prepare (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--liftings", nargs="+", default=list(LIFTINGS), choices=LIFTINGS,
                        metavar="NAME", help=f"of {', '.join(LIFTINGS)} (default: all)")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.2f}")
    images = inputs()
    bench_stages(images, args.repeats, args.liftings)
    bench_upscale(images, args.repeats)
    if args.convert:
        bench_convert(args.convert, args.workers)


if __name__ == "__main__":
    main()
