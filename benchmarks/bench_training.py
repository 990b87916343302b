"""CPU cost of one training step of OG-Net-Small: forward + backward of a batch of 36 clouds.

    .venv/bin/python benchmarks/bench_training.py [--threads 1] [--repeats 2]

Prints, per setting, the CPU seconds per cloud (``time.process_time``, so a busy machine
inflates it less than the wall time) and the wall seconds per step, median of the repeats
after one warm-up step. Settings: the demo model (2048 points, stages halved) at full and
quarter width, and 1024 points at quarter width. An epoch of the synthetic study's 1147
training clouds costs about 1147 times the per-cloud figure.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ognet.models import count_parameters, create_model  # noqa: E402

SETTINGS = {  # name: (points, stage points, channels; None = the variant's)
    "demo, full width": (2048, (384, 192, 96, 48), None),
    "demo, quarter width": (2048, (384, 192, 96, 48), (12, 24, 48, 96)),
    "1024 points, quarter width": (1024, (192, 96, 48, 24), (12, 24, 48, 96)),
}


def cloud_batch(batch: int, points: int, seed: int = 0) -> torch.Tensor:
    """(batch, points, 6): person-sized boxes of points (metres) with random colours."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(batch, points, 6, generator=g)
    x[..., :3] = (x[..., :3] - 0.5) * torch.tensor([0.6, 1.8, 0.4])
    return x


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--batch", type=int, default=36)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), batch {args.batch}")
    print("| setting | parameters | CPU s per cloud | wall s per step |")
    print("|---|---:|---:|---:|")
    for name, (points, stages, channels) in SETTINGS.items():
        kw = {"num_points": points, "stage_points": stages}
        if channels:
            kw["channels"] = channels
        model = create_model("ognet_small", num_classes=100, **kw).train()
        x = cloud_batch(args.batch, points)
        y = torch.randint(0, 100, (args.batch,))
        cpu, wall = [], []
        for i in range(args.repeats + 1):
            c0, t0 = time.process_time(), time.perf_counter()
            loss = torch.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            model.zero_grad(set_to_none=True)
            if i:  # the first step warms up
                cpu.append((time.process_time() - c0) / args.batch)
                wall.append(time.perf_counter() - t0)
        print(f"| {name} ({points} points) | {count_parameters(model) / 1e6:.2f}M | "
              f"{statistics.median(cpu):.3f} | {statistics.median(wall):.1f} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
