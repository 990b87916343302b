"""One ``/explain`` call through ``gradio_client``, with and without the match side.

    .venv/bin/python benchmarks/bench_explain_api.py [--photos 2] [--ranks 3] [--port 7930]

Starts ``python app.py --device cpu`` (the bundled model and gallery) on 127.0.0.1, then for
each example photo (``assets/examples``) and rank 1..``--ranks``, in this order:

- ``search``: ``/search`` of the photo, for scale;
- ``explain, query side only``: ``/explain`` with ``with_match=False``;
- ``explain, match side cold``: ``/explain`` with ``with_match=True``, the match's cloud not
  seen before (re-lifted from its thumbnail, one more model pass; a gallery item that was
  already in another photo's top ranks is cached, which this row then underestimates);
- ``explain, match side cached``: the same call again (the match's pass is cached).

Every ``/explain`` call lifts and runs the query again (the API takes a file). Prints a
Markdown table of medians (ms, wall time at the client) for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def start_app(port: int) -> subprocess.Popen:
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED="False")
    proc = subprocess.Popen([sys.executable, str(REPO / "app.py"), "--device", "cpu",
                             "--port", str(port)], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 180
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the app exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}", timeout=2):
                return proc
        except OSError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the app did not answer within 180 s")


def main() -> None:
    from gradio_client import Client, handle_file

    from ognet.assets import EXAMPLES_DIR

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=2)
    ap.add_argument("--ranks", type=int, default=3)
    ap.add_argument("--port", type=int, default=7930)
    args = ap.parse_args()

    proc = start_app(args.port)
    try:
        client = Client(f"http://127.0.0.1:{args.port}", verbose=False,
                        httpx_kwargs={"timeout": 300})
        times: dict[str, list[float]] = {}

        def timed(name, *inputs, api_name):
            t0 = time.perf_counter()
            out = client.predict(*inputs, api_name=api_name)
            times.setdefault(name, []).append((time.perf_counter() - t0) * 1000)
            return out

        photos = sorted(EXAMPLES_DIR.glob("*.jpg"))[:args.photos]
        client.predict(handle_file(str(photos[0])), api_name="/search")  # warm-up
        for photo in photos:
            f = handle_file(str(photo))
            for rank in range(1, args.ranks + 1):
                timed("search, for scale", f, api_name="/search")
                timed("explain, query side only (with_match=False)", f, rank, False,
                      api_name="/explain")
                got = timed("explain, match side cold (thumbnail re-lifted + one pass)", f,
                            rank, True, api_name="/explain")
                if "match" not in got:
                    raise SystemExit(f"no match side: {got.get('match_note')}")
                timed("explain, match side cached", f, rank, True, api_name="/explain")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    load = os.getloadavg()
    print(f"\n{os.cpu_count()} cores; {len(photos)} photos x {args.ranks} ranks; load average "
          f"at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}\n")
    print("| call | median ms | min ms | max ms | runs |")
    print("|---|---:|---:|---:|---:|")
    for name, t in times.items():
        print(f"| {name} | {statistics.median(t):.0f} | {min(t):.0f} | {max(t):.0f} | "
              f"{len(t)} |")


if __name__ == "__main__":
    main()
