"""How evenly each rule samples a lifted crop to the model's points, and what order-freeness
costs (issues 23 and 25).

    .venv/bin/python benchmarks/bench_sampling.py [--repeats 20]

1. Coverage. The six example queries (``assets/examples``) are lifted (8192 points, one per
   pixel, row-major); each rule keeps M of them (M = 1024, the demo model, and 4096, the
   paper's). For every pixel, the distance to the nearest kept pixel (in pixels), and for
   every point the distance to the nearest kept point in 3D (cm): mean and 99th percentile,
   averaged over the crops. Rules: ``rows`` (evenly spaced through the file's rows, the
   sampling before issue 23), ``random``, ``curve`` (evenly spaced along the cloud's Hilbert
   curve: ``ognet.pointcloud.sample_rows``, the default) and farthest point sampling
   (Open3D, for reference).
2. Cost, medians of ``--repeats`` on one process (so old and new share the machine's load):
   ``sample_rows`` per cloud against the row stride, and the model's canonical sort
   (``ops.canonical_order`` + gather) against the whole ``forward_features`` of the demo
   model (1024 points; batch 1 and 36) and of OG-Net-Small (4096 points; batch 1 and 8), eval
   mode.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.spatial import cKDTree

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet import create_model, ops  # noqa: E402
from ognet.assets import EXAMPLES_DIR  # noqa: E402
from ognet.pointcloud import sample_rows  # noqa: E402

DEMO = {"num_points": 1024, "stage_points": (192, 96, 48, 24), "channels": (12, 24, 48, 96)}


def fps_rows(cloud: np.ndarray, m: int) -> np.ndarray:
    xyz = torch.from_numpy(cloud[:, :3])[None]
    return ops.farthest_point_sample(xyz, m, backend="open3d")[0].numpy()


RULES = {
    "rows (before)": lambda c, m: np.arange(m) * len(c) // m,
    "random": lambda c, m: np.random.default_rng(0).choice(len(c), m, replace=False),
    "curve (default)": lambda c, m: sample_rows(c, m),
    "farthest point sampling": fps_rows,
}


def coverage(clouds, m: int) -> dict:
    out = {}
    for name, rule in RULES.items():
        rows = []
        for cloud in clouds:
            pixels = np.stack(np.divmod(np.arange(len(cloud)), 64), axis=1).astype(float)
            kept = rule(cloud, m)
            d_img = cKDTree(pixels[kept]).query(pixels)[0]
            d_3d = 100 * cKDTree(cloud[kept, :3]).query(cloud[:, :3])[0]
            rows.append([d_img.mean(), np.percentile(d_img, 99), d_3d.mean(),
                         np.percentile(d_3d, 99)])
        out[name] = np.mean(rows, axis=0)
    return out


def median_ms(fn, repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    from ognet.lift import lift_image

    clouds = [lift_image(p).points for p in sorted(EXAMPLES_DIR.glob("*.jpg"))]
    print(f"{len(clouds)} lifted example crops of {len(clouds[0])} points; torch "
          f"{torch.__version__}, {torch.get_num_threads()} thread(s)\n")
    print("| M | rule | image: mean px to the nearest kept | p99 px | 3D: mean cm | p99 cm |")
    print("|---:|---|---:|---:|---:|---:|")
    for m in (1024, 4096):
        for name, v in coverage(clouds, m).items():
            print(f"| {m} | {name} | {v[0]:.2f} | {v[1]:.2f} | {v[2]:.2f} | {v[3]:.2f} |",
                  flush=True)

    cloud = clouds[0]
    rows = median_ms(lambda: RULES["rows (before)"](cloud, 1024), args.repeats)
    curve = median_ms(lambda: sample_rows(cloud, 1024), args.repeats)
    print(f"\nsampling 8192 -> 1024 points: rows {rows:.3f} ms, curve {curve:.2f} ms per cloud")

    print("\n| model | batch | canonical sort ms | forward ms | share |")
    print("|---|---:|---:|---:|---:|")
    for name, kw, n, batches in (("demo (quarter width)", DEMO, 1024, (1, 36)),
                                 ("OG-Net-Small", {}, 4096, (1, 8))):
        torch.manual_seed(0)
        model = create_model("ognet_small", **kw).eval()
        for batch in batches:
            x = torch.from_numpy(np.stack([c[sample_rows(c, n)] for c in
                                           (clouds * 6)[:batch]]))
            with torch.no_grad():
                sort = median_ms(lambda x=x: ops.gather_points(x, ops.canonical_order(x)),
                                 args.repeats)
                forward = median_ms(lambda x=x, model=model: model.forward_features(x),
                                    max(3, args.repeats // (4 if batch > 1 else 1)))
            print(f"| {name}, {n} points | {batch} | {sort:.2f} | {forward:.0f} | "
                  f"{100 * sort / forward:.1f}% |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
