"""The campus set: how long ``python -m ognet campus`` takes, and lifting on its real crops.

Usage: ``python benchmarks/bench_campus.py [--data data/campus/images] [--crops 60]
[--liftings person mean_body] [--no-build]``.
Prints Markdown tables to paste under ``## Campus`` in BENCHMARKS.md:

1. the campus build by stage on the full video (795 frames): the background median, the
   detection + HOG + tracking pass, and filtering + cropping + writing (skipped with
   ``--no-build`` when ``--data`` is a built set);
2. lifting with each of ``--liftings`` (``ognet.lift.Lifter``, one warm-up call first; the
   liftings take turns on each crop) on ``--crops`` crops of the built set
   (``scripts/build_campus_assets.py`` makes it; built here in a temporary folder when
   absent), spread evenly over its files: median ms per stage and per call, the per-crop
   time ratio, the share of the person's pixels (MediaPipe's masks, the same reference for
   every lifting) lifted off the background plane, the lifted spines more than 60 degrees
   off the image's vertical, and how often MediaPipe found a pose, per walking direction.
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


def reference_mask(pose, segmenter, crop: np.ndarray) -> tuple[np.ndarray, str]:
    """The person's own pixels in a crop, whatever the lifting: MediaPipe Pose's mask above 0.5
    where it finds a pose, else its selfie segmenter's (which needs no pose)."""
    found, mask = pose.estimate(crop)
    if found is not None and mask is not None:
        return mask > 0.5, "pose"
    return segmenter.mask(crop) > 0.5, "segmenter"


def off_vertical_deg(joints: np.ndarray) -> float:
    """Angle (degrees) of a lifted body's pelvis -> neck line from the image's up axis."""
    up = joints[12] - joints[0]
    return float(np.degrees(np.arccos(np.clip(up[1] / np.linalg.norm(up), -1, 1))))


def bench_lift(data: Path, count: int, liftings: list[str]) -> None:
    """Lift ``count`` crops with each lifting, interleaved (one lifting after the other on
    each crop, so that the shared machine's load hits both alike)."""
    from ognet.lift import Lifter
    from ognet.lift.image import load_image, to_crop
    from ognet.lift.people import PersonSegmenter
    from ognet.lift.pose import PoseEstimator

    files = sorted([*(data / "query").glob("*.jpg"), *(data / "bounding_box_test").glob("*.jpg")])
    picked = [files[i] for i in np.linspace(0, len(files) - 1, min(count, len(files)))
              .round().astype(int)]
    lifters = {name: Lifter(lifting=name) for name in liftings}
    for lifter in lifters.values():
        lifter(picked[0])  # warm-up
    pose, segmenter = PoseEstimator(), PersonSegmenter()
    stats = {name: {"times": {}, "total": [], "methods": {}, "off": [], "pixels": [0, 0],
                    "source": [], "tilt": []} for name in liftings}
    for p in picked:
        person, source = reference_mask(pose, segmenter, to_crop(load_image(p)))
        for name, lifter in lifters.items():
            t0 = time.perf_counter()
            result = lifter(p)
            st = stats[name]
            st["total"].append(1000 * (time.perf_counter() - t0))
            for stage, sec in result.timings.items():
                st["times"].setdefault(stage, []).append(1000 * sec)
            st["methods"].setdefault(p.name.split("_")[1][1], []).append(result.method)
            lifted = int((result.foreground & person).sum())
            st["pixels"][0] += lifted
            st["pixels"][1] += int(person.sum())
            st["off"].append(lifted / max(int(person.sum()), 1))
            st["source"].append(source)
            st["tilt"].append(off_vertical_deg(result.joints))

    print(f"Lifting {len(picked)} campus crops (128x64 JPEG), each lifting in turn on each "
          "crop; wall ms per call (median) and per stage:\n")
    stages = list(dict.fromkeys(s for st in stats.values() for s in st["times"]))
    print("| lifting | " + " | ".join(stages) + " | total (wall) |\n|---|"
          + "---:|" * (len(stages) + 1))
    for name, st in stats.items():
        cells = [f"{np.median(st['times'][s]):.1f}" if s in st["times"] else "–"
                 for s in stages]
        print(f"| `{name}` | " + " | ".join(cells) + f" | **{np.median(st['total']):.1f}** |")
    if len(liftings) > 1:
        base = np.array(stats[liftings[-1]]["total"])
        for name in liftings[:-1]:
            ratio = np.median(np.array(stats[name]["total"]) / base)
            print(f"\nper-crop time ratio `{name}` / `{liftings[-1]}`: median {ratio:.2f}")

    print("\nThe person's pixels (MediaPipe Pose's mask > 0.5, or its selfie segmenter's where "
          "no pose is found) lifted off the background plane, and the lifted body's spine "
          "angle from the image's vertical:\n")
    print("| lifting | crops | person pixels off the plane, pooled | median per crop | "
          "crops under 90% | pose crops | no-pose crops | spine > 60 deg off vertical |")
    print("|---|---|---|---|---|---|---|---|")
    for name, st in stats.items():
        off, src = np.array(st["off"]), np.array(st["source"])
        by = {k: f"{np.median(off[src == k]):.2f} ({(src == k).sum()})" if (src == k).any()
              else "–" for k in ("pose", "segmenter")}
        tilt = np.array(st["tilt"])
        print(f"| `{name}` | {len(off)} | {st['pixels'][0] / st['pixels'][1]:.1%} | "
              f"{np.median(off):.2f} | {(off < 0.9).sum()} | {by['pose']} | "
              f"{by['segmenter']} | {(tilt > 60).sum()} |")

    for name, st in stats.items():
        print(f"\n`{name}`:\n\n| walking direction (camera) | crops | pose | fallback |\n"
              "|---|---|---|---|")
        methods = st["methods"]
        for cam in sorted(methods):
            m = methods[cam]
            print(f"| c{cam} {SIDES[cam]} | {len(m)} | {m.count('pose')} | "
                  f"{m.count('fallback')} |")
        all_m = [x for m in methods.values() for x in m]
        n_pose = all_m.count("pose")
        print(f"| all | {len(all_m)} | {n_pose} ({100 * n_pose / len(all_m):.0f}%) | "
              f"{all_m.count('fallback')} |")


def main() -> int:
    import torch

    from ognet.lift import LIFTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/campus/images", help="a built campus set")
    parser.add_argument("--crops", type=int, default=60)
    parser.add_argument("--liftings", nargs="+", default=list(LIFTINGS), choices=LIFTINGS,
                        metavar="NAME", help=f"of {', '.join(LIFTINGS)} (default: all)")
    parser.add_argument("--no-build", action="store_true",
                        help="skip timing the build (needs --data to be a built set)")
    args = parser.parse_args()
    torch.set_num_threads(2)
    print(f"load average {os.getloadavg()[0]:.1f} (1 min) on {os.cpu_count()} CPUs, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n")
    data = ROOT / args.data
    with tempfile.TemporaryDirectory() as tmp:
        if not args.no_build or not (data / "campus.json").is_file():
            bench_build(Path(tmp) / "campus")
        bench_lift(data if (data / "campus.json").is_file() else Path(tmp) / "campus",
                   args.crops, args.liftings)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
