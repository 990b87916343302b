"""``python -m ognet synth``: generate a synthetic Market-1501-format re-id dataset."""

NAME = "synth"
HELP = "generate a synthetic Market-1501-format re-id dataset from the free body"


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--identities", type=int, default=100, help="people (half train)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cameras-per-identity", type=int, default=3)
    parser.add_argument("--images-per-camera", type=int, default=3)


def run(args) -> int:
    import time

    from ognet.synth import generate_dataset

    t0 = time.time()
    counts = generate_dataset(args.out, args.identities, seed=args.seed,
                              cameras_per_identity=args.cameras_per_identity,
                              images_per_camera=args.images_per_camera)
    n = sum(counts.values())
    dt = time.time() - t0
    print(f"wrote {n} images to {args.out} in {dt:.0f} s ({n / dt:.1f} images/s): "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return 0
