"""``python -m ognet index``: build a gallery index (features + thumbnails) from a checkpoint.

``--backend faiss --faiss-index SPEC`` stores a FAISS index with it (``Flat``: exact;
``approximate``: the recommended compressed index for the gallery's size,
``IVF{nlist},SQ8`` searched with ``nprobe=256`` and re-ranked over 100 candidates, for
millions of items; or any FAISS factory string with ``--faiss-params``/``--rerank``);
``--reindex GALLERY`` rebuilds an existing index with another backend without the model.

Every index is calibrated (``ognet.gallery.calibrate``): the similarity above which a top
match is "confident", at ``--false-match-rate`` (default 1%) measured on the gallery itself;
``--reindex`` re-calibrates (an older file gains its calibration). ``--lifting`` records the
lifting that made the prepared clouds (default: what ``DATA/prepare_report.json`` records,
else ``mean_body``), so that the app lifts queries the same way; ``--people`` says whether the
gallery's people are ``synthetic`` (rendered) or ``real`` photos, for the app's notices.
"""

NAME = "index"
HELP = "build a GalleryIndex of a prepared dataset split with a checkpoint"


def add_arguments(parser):
    parser.add_argument("--checkpoint", help="X.safetensors (with X.json beside)")
    parser.add_argument("--data", help="prepared dataset folder")
    parser.add_argument("--reindex", metavar="GALLERY", help="an existing index to give "
                        "another backend (instead of --checkpoint/--data)")
    parser.add_argument("--out", required=True, help="index folder (or a .safetensors file)")
    parser.add_argument("--images", help="source image tree of the prepared DATA (same relative "
                        "paths): thumbnails from the photos and image paths in the index")
    parser.add_argument("--split", default="gallery", choices=("gallery", "query", "train"))
    parser.add_argument("--dataset-format", default="auto")
    parser.add_argument("--keep-junk", action="store_true", help="keep pid -1 items")
    parser.add_argument("--no-thumbnails", action="store_true")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="exact", choices=("exact", "faiss"),
                        help="search backend stored with the index (default exact: torch)")
    parser.add_argument("--faiss-index", default="Flat", help="FAISS index factory string: "
                        "Flat (exact, default), approximate (recommended for millions: "
                        "IVF{nlist},SQ8 sized to the gallery), IVF1024,PQ64np, HNSW32, ...")
    parser.add_argument("--faiss-params", default=None, help="FAISS search parameters, e.g. "
                        "nprobe=32 (IVF) or efSearch=128 (HNSW); default: approximate's "
                        "nprobe=256, else none")
    parser.add_argument("--rerank", type=int, default=None, help="re-score FAISS's best N by "
                        "the exact cosine on the stored features (0: off; default: "
                        "approximate's 100, else 0)")
    parser.add_argument("--train-size", type=int, default=200_000,
                        help="rows an IVF/PQ index is trained on (a random subsample)")
    parser.add_argument("--false-match-rate", type=float, default=None,
                        help="of the calibrated confidence threshold (default 0.01: 1%% of "
                             "the gallery's own items, their identity left out, still get a "
                             "best match above it)")
    parser.add_argument("--lifting", default=None,
                        help="the lifting that made DATA's clouds (default: DATA's "
                             "prepare_report.json, else mean_body)")
    parser.add_argument("--people", choices=("synthetic", "real"), default=None,
                        help="the gallery's people: rendered (synthetic) or photographed")


def run(args) -> int:
    import time

    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine import load_model, resolve_device
    from ognet.faiss_search import FaissMissing, import_faiss
    from ognet.gallery import FALSE_MATCH_RATE, GalleryError, GalleryIndex, calibrate
    from ognet.lift import LIFTINGS

    t0 = time.perf_counter()
    backend = {"backend": args.backend, "faiss_index": args.faiss_index,
               "faiss_params": args.faiss_params, "train_size": args.train_size,
               "rerank": args.rerank}
    rate = FALSE_MATCH_RATE if args.false_match_rate is None else args.false_match_rate
    if not 0 < rate < 1:
        print(f"error: --false-match-rate must be in (0, 1), got {rate}")
        return 2
    people = {"people": args.people} if args.people else {}
    if args.lifting and args.lifting not in LIFTINGS:
        print(f"error: unknown lifting {args.lifting!r}; one of {', '.join(LIFTINGS)}")
        return 2
    if args.reindex:
        try:
            index = GalleryIndex.load(args.reindex).set_backend(**backend)
        except (FaissMissing, ValueError, GalleryError) as exc:
            print(f"error: {exc}")
            return 2
        if args.lifting:
            index.meta["lifting"] = args.lifting
        index.meta.update(people)
        _calibrate(index, rate, calibrate)
        path = index.save(args.out)
        print(f"re-indexed {len(index)} items with {_describe(index)} in "
              f"{time.perf_counter() - t0:.1f}s -> {path}")
        return 0
    if not (args.checkpoint and args.data):
        print("error: give --checkpoint and --data (or --reindex GALLERY)")
        return 2
    lifting = args.lifting or _recorded_lifting(args.data) or "mean_body"
    if lifting not in LIFTINGS:  # a report of a lifting this ognet does not have
        print(f"error: unknown lifting {lifting!r}; one of {', '.join(LIFTINGS)}")
        return 2
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, device=device, num_classes=0)
    meta = model.checkpoint_meta
    if not meta.get("background", True):
        print(f"error: {args.checkpoint} was trained on the person's points only (`train "
              f"--no-background`, a study arm); a gallery for the app holds whole clouds")
        return 2
    data = load_dataset(args.data, args.dataset_format, splits=(args.split,),
                        image_root=args.images)
    items = [it for it in data.split(args.split) if args.keep_junk or it.pid != -1]
    dataset = PointCloudDataset(items, num_points=meta["input_points"],
                                z_zero=meta.get("z_zero", False))
    if args.backend == "faiss":
        try:  # before the features are extracted, not after
            import_faiss()
        except FaissMissing as exc:
            print(f"error: {exc}")
            return 2
    try:
        index = GalleryIndex.build(
            model, dataset, batch_size=args.batch_size, device=device,
            thumbnails=not args.no_thumbnails, workers=args.workers,
            meta={"checkpoint": str(args.checkpoint), "data": str(args.data),
                  "split": args.split, "model": meta["model"]["name"], **people},
            lifting=lifting, false_match_rate=rate, **backend)
    except ValueError as exc:  # a FAISS spec that cannot be built
        print(f"error: {exc}")
        return 2
    path = index.save(args.out)
    print(f"indexed {len(index)} items of {args.data} ({args.split}) with {_describe(index)} "
          f"in {time.perf_counter() - t0:.1f}s -> {path}")
    return 0


def _recorded_lifting(data) -> str | None:
    """The lifting ``prepare`` recorded in ``DATA/prepare_report.json``, if any."""
    import json
    from pathlib import Path

    report = Path(data) / "prepare_report.json"
    try:
        return json.loads(report.read_text()).get("lifting") if report.is_file() else None
    except (OSError, ValueError):
        return None


def _calibrate(index, rate: float, calibrate) -> None:
    """(Re-)calibrate ``index`` at ``rate`` (a single identity cannot be: left without)."""
    index.meta.pop("calibration", None)
    try:
        index.meta["calibration"] = {**calibrate(index.features, index.pids, index.camids,
                                                 rate), "at": "index"}
    except ValueError as exc:
        print(f"note: not calibrated ({exc})")


def _describe(index) -> str:
    calibration = index.calibration
    confident = ("" if calibration is None else
                 f"; confident above {calibration['threshold']:.3f} "
                 f"({calibration['false_match_rate']:.0%} false matches)")
    if index.backend == "exact":
        return "exact search (torch)" + confident
    params = f", {index.faiss_params}" if index.faiss_params else ""
    rerank = f", re-ranking the best {index.rerank}" if index.rerank else ""
    return f"FAISS {index.faiss_index}{params}{rerank}{confident}"
