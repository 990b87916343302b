"""Explaining one match and re-running a what-if, on the CPU, after warm-up.

    .venv/bin/python benchmarks/bench_explain.py [--repeats 7] [--checkpoint X --gallery D]

For each example query (``assets/examples``) and each repeat, in one process:

- ``explain, cold``: ``pipe.explain(result, rank=1)`` on a fresh query result with the
  match's forward pass not cached: the query's forward pass with its per-point head terms,
  the match's cloud (re-lifted from its photo or thumbnail when the gallery has no prepared
  cloud), its forward pass, the coverage maps and the split;
- ``explain, next rank``: ``pipe.explain(result, rank=2)`` right after (the query's pass is
  cached, the match's is not);
- ``split only``: ranks 1 and 2 again with both passes cached (the arithmetic alone);
- ``search``: ``pipe.run`` of the same photo, for scale;
- ``what-if``: one ``pipe.what_if`` per variation (greyscale, yaw 30, k 8, density 0.5).

Prints a Markdown table of medians (ms) for BENCHMARKS.md. The bundled model is used when it
loads; otherwise an untrained OG-Net-Small of the same shape (2048 points in; the speed does
not depend on the weights) on the bundled gallery.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def load_pipeline(checkpoint: str, gallery: str):
    from ognet.pipeline import PipelineError, ReIDPipeline

    try:
        return ReIDPipeline(checkpoint, gallery, device="cpu"), "bundled checkpoint"
    except PipelineError as exc:
        import torch

        from ognet import create_model
        from ognet.engine.checkpoint import save_checkpoint

        print(f"(checkpoint does not load: {str(exc)[:100]}...; untrained OG-Net-Small)",
              file=sys.stderr)
        torch.manual_seed(0)
        model = create_model("ognet_small", num_points=2048,
                             stage_points=(384, 192, 96, 48)).eval()
        path = save_checkpoint(Path(tempfile.mkdtemp()) / "untrained.safetensors", model)
        return ReIDPipeline(path, gallery, device="cpu"), "untrained OG-Net-Small, 2048 points"


def main() -> None:
    from ognet.assets import DEFAULT_CHECKPOINT, DEFAULT_GALLERY, EXAMPLES_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT))
    ap.add_argument("--gallery", default=str(DEFAULT_GALLERY))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--photos", type=int, default=0, help="use the first N examples (0: all)")
    args = ap.parse_args()

    import torch

    from ognet import explain

    torch.set_num_threads(args.threads)
    pipe, model_note = load_pipeline(args.checkpoint, args.gallery)
    pipe.warm_up()
    photos = sorted(EXAMPLES_DIR.glob("*.jpg"))[:args.photos or None]
    times: dict[str, list[float]] = {}

    def timed(name, fn):
        t0 = time.perf_counter()
        out = fn()
        times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
        return out

    # warm-up: one of everything
    r = pipe.run(photos[0])
    pipe.explain(r, 1)
    pipe.what_if(r, "k", 8)
    times.clear()
    for _ in range(args.repeats):
        for photo in photos:
            explain._MATCHES.items.clear()  # the match's pass is part of the cost measured
            r = timed("search (lift + features + top-5), for scale", lambda p=photo: pipe.run(p))
            timed("explain rank 1, cold (query pass, match cloud + pass, split)",
                  lambda r=r: pipe.explain(r, 1))
            timed("explain rank 2 (query pass cached)", lambda r=r: pipe.explain(r, 2))
            for rank in (1, 2, 1, 2, 1):
                timed("explain rank 1 or 2 again, both passes cached (split only)",
                      lambda r=r, k=rank: pipe.explain(r, k))
            for name, value in (("greyscale", None), ("yaw", 30), ("k", 8), ("density", 0.5)):
                timed(f"what-if {name}" + ("" if value is None else f" {value}"),
                      lambda r=r, n=name, v=value: pipe.what_if(r, n, v))
    load = os.getloadavg()
    print(f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch "
          f"{torch.__version__}, {args.threads} threads; {model_note}; gallery "
          f"{len(pipe.gallery)} items; {len(photos)} photos x {args.repeats} repeats; load "
          f"average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| step | median ms | p90 ms | runs |")
    print("|---|---|---|---|")
    for name, t in times.items():
        t = sorted(t)
        p90 = t[min(len(t) - 1, int(round(0.9 * (len(t) - 1))))]
        print(f"| {name} | {statistics.median(t):.1f} | {p90:.1f} | {len(t)} |")


if __name__ == "__main__":
    main()
