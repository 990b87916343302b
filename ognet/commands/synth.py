"""``python -m ognet synth``: generate a synthetic Market-1501-format re-id dataset."""

NAME = "synth"
HELP = "generate a synthetic Market-1501-format re-id dataset from the free body"


def _int_range(text: str) -> tuple[int, int]:
    """``"3"`` -> (3, 3); ``"2-4"`` -> (2, 4)."""
    lo, _, hi = text.partition("-")
    return int(lo), int(hi or lo)


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--identities", type=int, default=100, help="people (half train)")
    parser.add_argument("--seed", type=int, default=0, help="the world's seed")
    parser.add_argument("--images-per-camera", type=_int_range, default=(2, 4),
                        metavar="N|LO-HI", help="images per identity and camera (default 2-4)")
    parser.add_argument("--cameras-per-identity", type=_int_range, default=(2, 6),
                        metavar="N|LO-HI", help="cameras that see each identity (default 2-6)")
    parser.add_argument("--queries-per-identity", type=int, default=3,
                        help="most queries per test identity, one per camera")
    parser.add_argument("--workers", type=int, default=0, help="rendering processes (0: this)")
    parser.add_argument("--truth", action="store_true",
                        help="also write each crop's ground truth beside it (NAME.truth: a "
                             "compressed .npz with the person's mask, depth along the optical "
                             "axis, 24 joints in the camera frame, height, camera pitch and "
                             "betas; see ognet.synth.truth)")


def run(args) -> int:
    import time

    from ognet.synth import generate_dataset

    t0 = time.perf_counter()
    counts = generate_dataset(args.out, args.identities, seed=args.seed,
                              images_per_camera=args.images_per_camera,
                              cameras_per_identity=args.cameras_per_identity,
                              queries_per_identity=args.queries_per_identity,
                              workers=args.workers, truth=args.truth)
    n = sum(counts.values())
    dt = time.perf_counter() - t0
    print(f"wrote {n} images to {args.out} in {dt:.1f} s ({n / dt:.1f} images/s): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
