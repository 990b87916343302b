"""OG-Net demo: a pedestrian photo -> colored 3D point cloud -> OG-Net -> top-5 gallery matches.

    python app.py [--checkpoint X.safetensors] [--gallery DIR [DIR ...]] [--device auto|cpu|cuda]
                  [--body-model-dir DIR] [--host 127.0.0.1] [--port 7860] [--share] [--open3d]

This file parses the arguments, loads ``ognet.pipeline.ReIDPipeline`` with every gallery the
page offers (``ui.galleries.gallery_paths``: the ``--gallery`` ones, the first the default,
and the shipped synthetic and campus galleries with the shipped checkpoint) and launches the
page that ``ui.build_app`` lays out (one module per tab in ``ui/tabs/``). API endpoints:
``/lift``, ``/search``, ``/galleries``, ``/explain`` and ``/whatif`` (``ui/api.py``; see README).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent
sys.path.insert(0, str(REPO))

from ognet.assets import (  # noqa: E402
    CAMPUS_EXAMPLES,
    DEFAULT_CHECKPOINT,
    DEFAULT_GALLERY,
    EXAMPLES_DIR,
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                   help="OG-Net checkpoint (.safetensors with its .json); default: the demo model")
    p.add_argument("--gallery", nargs="+", default=[str(DEFAULT_GALLERY)],
                   help="gallery index folders or .safetensors files, the first searched by "
                        "default (the page offers all, and with the demo checkpoint the "
                        "synthetic and campus galleries too); default: the synthetic gallery")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--body-model-dir", default=None,
                   help="official SMPL files (smplx layout); default: the free body")
    p.add_argument("--examples", nargs="+", default=[str(EXAMPLES_DIR), str(CAMPUS_EXAMPLES)],
                   help="folders of example query images; default: the synthetic and the "
                        "real campus examples")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    p.add_argument("--share", action="store_true", help="public gradio.live link (off)")
    p.add_argument("--open3d", action="store_true",
                   help="also open every query's cloud in Open3D's desktop viewer")
    p.add_argument("--concurrency", type=int, default=2,
                   help="queries processed at the same time (others queue)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from ognet.pipeline import PipelineError, ReIDPipeline
    from ui.galleries import gallery_paths

    t0 = time.perf_counter()
    for label, path in [("checkpoint", Path(args.checkpoint)),
                        *(("gallery", Path(g)) for g in args.gallery)]:
        if not path.exists():
            print(f"error: {label} not found: {path} (pass --{label})", file=sys.stderr)
            return 2
    paths = gallery_paths(args)
    try:
        pipe = ReIDPipeline(args.checkpoint, paths, device=args.device,
                            body_model_dir=args.body_model_dir)
        pipe.warm_up()
        info = pipe.describe()
    except (PipelineError, OSError, ValueError, RuntimeError) as e:
        print(f"error: {e}".splitlines()[0], file=sys.stderr)
        return 2
    from ui import build_app
    from ui.text import header
    from ui.theme import CSS, THEME

    print(f"ognet app: {header(info)}", flush=True)
    print(f"loaded and warmed up in {time.perf_counter() - t0:.1f} s", flush=True)

    demo = build_app(pipe, args, paths)
    demo.queue(default_concurrency_limit=args.concurrency, max_size=64)
    demo.launch(server_name=args.host, server_port=args.port, share=args.share,
                theme=THEME, css=CSS, show_error=False,
                allowed_paths=[str(Path(e).resolve()) for e in args.examples],
                footer_links=["api"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
