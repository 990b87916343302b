"""Lifting speed: per-stage time of ``ognet.lift`` per 128x64 crop, and ``prepare`` images/s.

Usage: ``python benchmarks/bench_lift.py [--repeats 5] [--convert 40] [--workers 2]``.
Prints Markdown tables to paste under ``## Lifting`` in BENCHMARKS.md:

1. model load (MediaPipe graph + body model) and the first call, separately;
2. median milliseconds per stage (decode, pose, fit, raycast, colors) after one warm-up call,
   over ``--repeats`` calls on each image: the real queries in ``../shared/real-queries`` when
   present, and rendered bodies (128x64 JPEG bytes, as in a dataset);
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

STAGES = ("decode", "pose", "fit", "raycast", "colors")


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


def bench_stages(images: dict, repeats: int) -> None:
    from ognet.lift import Lifter

    t = time.perf_counter()
    lifter = Lifter()
    load_s = time.perf_counter() - t
    first = next(iter(images.values()))
    t = time.perf_counter()
    lifter(first)
    first_s = time.perf_counter() - t
    print(f"\nModel load (MediaPipe Pose + body): {load_s:.2f} s; first call: "
          f"{first_s * 1000:.0f} ms\n")
    print("| image | method | " + " | ".join(STAGES) + " | total |")
    print("|---|---|" + "---:|" * (len(STAGES) + 1))
    per_stage = {s: [] for s in STAGES}
    totals = []
    for name, src in images.items():
        lifter(src)  # warm-up
        runs = [lifter(src) for _ in range(repeats)]
        med = {s: np.median([r.timings[s] for r in runs]) * 1000 for s in STAGES}
        for r in runs:
            for s in STAGES:
                per_stage[s].append(r.timings[s] * 1000)
            totals.append(sum(r.timings.values()) * 1000)
        total = np.median([sum(r.timings.values()) for r in runs]) * 1000
        print(f"| {name} | {runs[0].method} | "
              + " | ".join(f"{med[s]:.1f}" for s in STAGES) + f" | {total:.1f} |")
    print("| **median, all** | | " + " | ".join(f"{np.median(per_stage[s]):.1f}" for s in STAGES)
          + f" | **{np.median(totals):.1f}** |")


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--convert", type=int, default=40, help="images for prepare (0: skip)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__} ({torch.get_num_threads()} threads), "
          f"load average {os.getloadavg()[0]:.2f}")
    images = inputs()
    bench_stages(images, args.repeats)
    bench_upscale(images, args.repeats)
    if args.convert:
        bench_convert(args.convert, args.workers)


if __name__ == "__main__":
    main()
