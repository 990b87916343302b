"""The app end to end, through ``gradio_client`` against a real ``python app.py``.

    .venv/bin/python benchmarks/bench_app.py [--requests 20] [--clients 8] [--per-client 3]
                                             [app flags: --checkpoint X --gallery D --examples E]

Measures (on 128x64 crops of the example queries):

- cold start: process start -> first ``/search`` answer (model, gallery and lifter loading,
  warm-up, the Gradio server);
- warm latency: median and p90 request -> top-5 of ``/search`` over ``--requests`` calls;
- concurrency: ``--clients`` clients at once, ``--per-client`` requests each; every answer is
  checked against the sequential answer for the same image; throughput in requests/s.

Prints a Markdown table for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def crops(folder: Path, out: Path) -> list[Path]:
    """128x64 PNG crops of the example queries (Market names kept)."""
    from PIL import Image

    paths = []
    for p in sorted(folder.iterdir()):
        if p.suffix.lower() in (".jpg", ".jpeg", ".png"):
            q = out / (p.stem + ".png")
            Image.open(p).convert("RGB").resize((64, 128), Image.BILINEAR).save(q)
            paths.append(q)
    if not paths:
        raise SystemExit(f"no example images in {folder}")
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=3)
    ap.add_argument("--checkpoint")
    ap.add_argument("--gallery")
    ap.add_argument("--examples")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()

    from gradio_client import Client, handle_file

    from ognet.assets import EXAMPLES_DIR

    app_flags = ["--device", args.device]
    for flag in ("checkpoint", "gallery", "examples"):
        if getattr(args, flag):
            app_flags += [f"--{flag}", getattr(args, flag)]
    tmp = Path(tempfile.mkdtemp(prefix="bench_app_"))
    images = crops(Path(args.examples or EXAMPLES_DIR), tmp)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    t_start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), *app_flags, "--port",
                             str(port)], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 180
        while True:
            if proc.poll() is not None:
                raise SystemExit(f"the app exited with {proc.returncode}")
            try:
                with urllib.request.urlopen(url, timeout=2):
                    break
            except OSError:
                if time.time() > deadline:
                    raise SystemExit("the app did not answer in 180 s") from None
                time.sleep(0.2)
        client = Client(url, verbose=False)
        first = client.predict(handle_file(str(images[0])), api_name="/search")
        cold = time.perf_counter() - t_start
        assert len(first) == 5

        # sequential answers (the reference for the concurrency check) and warm-up
        expected = {}
        for img in images:
            expected[img] = [(r["pid"], r["camid"]) for r in
                             client.predict(handle_file(str(img)), api_name="/search")]
        times = []
        for i in range(args.requests):
            img = images[i % len(images)]
            t0 = time.perf_counter()
            res = client.predict(handle_file(str(img)), api_name="/search")
            times.append(time.perf_counter() - t0)
            assert [(r["pid"], r["camid"]) for r in res] == expected[img]
        times.sort()
        median = statistics.median(times)
        p90 = times[int(0.9 * (len(times) - 1))]

        def worker(c: int) -> int:
            cl = Client(url, verbose=False)
            ok = 0
            for j in range(args.per_client):
                img = images[(c + j) % len(images)]
                res = cl.predict(handle_file(str(img)), api_name="/search")
                ok += [(r["pid"], r["camid"]) for r in res] == expected[img]
            return ok

        t0 = time.perf_counter()
        with ThreadPoolExecutor(args.clients) as pool:
            oks = list(pool.map(worker, range(args.clients)))
        wall = time.perf_counter() - t0
        total = args.clients * args.per_client
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()

    cpu = platform.processor() or platform.machine()
    print(f"| measure | value | goal |\n|---|---:|---:|\n"
          f"| cold start (process start -> first top-5) | {cold:.1f} s | < 20 s |\n"
          f"| warm request -> top-5, 128x64 crop, median ({args.requests} requests) | "
          f"{median * 1000:.0f} ms | < 500 ms |\n"
          f"| warm request -> top-5, p90 | {p90 * 1000:.0f} ms | |\n"
          f"| {args.clients} concurrent clients x {args.per_client} requests: correct | "
          f"{sum(oks)}/{total} | all |\n"
          f"| {args.clients} concurrent clients: throughput | {total / wall:.2f} req/s "
          f"({wall:.1f} s for {total}) | |")
    print(f"\n{os.cpu_count()} CPU cores ({cpu}), device flag {args.device}, "
          f"{len(images)} distinct query crops.")


if __name__ == "__main__":
    main()
