"""The campus set: how long ``python -m ognet campus`` takes, and lifting on its real crops.

Usage: ``python benchmarks/bench_campus.py [--data data/campus/images] [--crops 60]``.
Prints Markdown tables to paste under ``## Campus`` in BENCHMARKS.md:

1. the campus build by stage on the full video (795 frames): the background median, the
   detection + HOG + tracking pass, and filtering + cropping + writing;
2. lifting (``ognet.lift.Lifter``, one warm-up call first) on ``--crops`` crops of the built
   set (``scripts/build_campus_assets.py`` makes it; built here in a temporary folder when
   absent), spread evenly over its files: median ms per stage, and how often MediaPipe found
   a pose, per walking direction (front, back, sides).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

STAGES = ("decode", "pose", "fit", "raycast", "colors")
SIDES = {"1": "towards (front)", "2": "away (back)", "3": "left (side)", "4": "right (side)"}


def bench_build(out: Path) -> None:
    from ognet.campus import build_campus
    from ognet.campus.detect import _background

    _background.cache_clear()  # time the background median too
    report = build_campus(out, progress=False)
    sec = report["seconds"]
    frames = 795
    print("| stage | seconds | per frame |\n|---|---|---|")
    print(f"| background median (every 8th frame) | {sec['background']:.1f} | – |")
    print(f"| detection + HOG + tracking | {sec['tracking']:.1f} | "
          f"{1000 * sec['tracking'] / frames:.1f} ms |")
    print(f"| filters + cropping + JPEG writing | {sec['filters_and_writing']:.1f} | "
          f"{1000 * sec['filters_and_writing'] / frames:.1f} ms |")
    print(f"\n{report['tracklets']} tracklets, {report['kept']} crops ({report['query']} query, "
          f"{report['bounding_box_test']} gallery), {report['identities']} identities; "
          f"dropped: {report['dropped']}\n")


def bench_lift(data: Path, count: int) -> None:
    from ognet.lift import Lifter

    files = sorted([*(data / "query").glob("*.jpg"), *(data / "bounding_box_test").glob("*.jpg")])
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files)))
              .round().astype(int)]
    lifter = Lifter()
    lifter(picked[0])  # warm-up
    times = {s: [] for s in STAGES}
    methods: dict[str, list[str]] = {}
    for p in picked:
        result = lifter(p)
        for s in STAGES:
            times[s].append(1000 * result.timings.get(s, 0.0))
        methods.setdefault(p.name.split("_")[1][1], []).append(result.method)
    total = [sum(v) for v in zip(*times.values(), strict=True)]
    print(f"Lifting {len(picked)} campus crops (128x64 JPEG), median ms:\n")
    print("| " + " | ".join(STAGES) + " | total |\n|" + "---|" * (len(STAGES) + 1))
    print("| " + " | ".join(f"{np.median(times[s]):.1f}" for s in STAGES)
          + f" | **{np.median(total):.1f}** |")
    print("\n| walking direction (camera) | crops | pose | fallback |\n|---|---|---|---|")
    for cam in sorted(methods):
        m = methods[cam]
        print(f"| c{cam} {SIDES[cam]} | {len(m)} | {m.count('pose')} | "
              f"{m.count('fallback')} |")
    all_m = [x for m in methods.values() for x in m]
    pose = all_m.count("pose")
    print(f"| all | {len(all_m)} | {pose} ({100 * pose / len(all_m):.0f}%) | "
          f"{all_m.count('fallback')} |")


def main() -> int:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/campus/images", help="a built campus set")
    parser.add_argument("--crops", type=int, default=60)
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    with tempfile.TemporaryDirectory() as tmp:
        bench_build(Path(tmp) / "campus")
        data = ROOT / args.data
        bench_lift(data if (data / "campus.json").is_file() else Path(tmp) / "campus",
                   args.crops)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
