"""Does the order of a cloud's points change its embedding? (issue 25, point 1)

    .venv/bin/python benchmarks/bench_order.py [--checkpoint assets/model/X.safetensors]

For each example query (``assets/examples``, lifted by ``ognet.lift``): the cosine between
the shipped checkpoint's embedding of the model's input points and of the same points in
three random orders, and between the embeddings of the whole lifted cloud and of the same
cloud in another order, each sampled to the model's points as evaluation does (what a
``.ply`` written in another order gives). Also the share of the points on the most common
depth (the background plane: where ties come from). It uses only what every ognet version
has (``load_model``, ``lift_image``, ``sample_points``), so it runs on an earlier checkout
too: ``git worktree add /tmp/before COMMIT`` and ``python benchmarks/bench_order.py --repo
/tmp/before``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=REPO,
                        help="the ognet checkout to measure (default: this one)")
    parser.add_argument("--checkpoint", type=Path,
                        default=REPO / "assets" / "model" / "ognet_small_synth.safetensors")
    args = parser.parse_args()
    sys.path.insert(0, str(args.repo.resolve()))
    import ognet
    from ognet import load_model
    from ognet.lift import lift_image
    from ognet.pointcloud import sample_points

    examples = REPO / "assets" / "examples"

    model = load_model(args.checkpoint, device="cpu")
    n = model.config.num_points
    print(f"ognet from {Path(ognet.__file__).parent}, checkpoint {args.checkpoint}, "
          f"{n} points\n")
    print("| crop | points on the most common depth | model input shuffled (3 orders) | "
          "cloud shuffled before sampling |")
    print("|---|---:|---|---:|")
    for path in sorted(examples.glob("*.jpg")):
        cloud = lift_image(path).points
        x = torch.from_numpy(sample_points(cloud, n))[None]
        a = model.extract(x)[0]
        shuffled = []
        for seed in range(3):
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
            shuffled.append(float(a @ model.extract(x[:, perm])[0]))
        rows = np.random.default_rng(1).permutation(len(cloud))
        b = model.extract(torch.from_numpy(sample_points(cloud[rows], n))[None])[0]
        ties = np.unique(cloud[:, 2], return_counts=True)[1].max() / len(cloud)
        print(f"| {path.stem} | {100 * ties:.0f}% | "
              f"{', '.join(f'{c:.4f}' for c in shuffled)} | {float(a @ b):.4f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
