"""``python -m ognet index``: build a gallery index (features + thumbnails) from a checkpoint.

``--backend faiss --faiss-index SPEC`` stores a FAISS index with it (``Flat``: exact;
``approximate``: the recommended compressed index for the gallery's size,
``IVF{nlist},SQ8`` searched with ``nprobe=256`` and re-ranked over 100 candidates, for
millions of items; or any FAISS factory string with ``--faiss-params``/``--rerank``);
``--reindex GALLERY`` rebuilds an existing index with another backend without the model.
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


def run(args) -> int:
    import time

    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine import load_model, resolve_device
    from ognet.faiss_search import FaissMissing, import_faiss
    from ognet.gallery import GalleryError, GalleryIndex

    t0 = time.perf_counter()
    backend = {"backend": args.backend, "faiss_index": args.faiss_index,
               "faiss_params": args.faiss_params, "train_size": args.train_size,
               "rerank": args.rerank}
    if args.reindex:
        try:
            index = GalleryIndex.load(args.reindex).set_backend(**backend)
        except (FaissMissing, ValueError, GalleryError) as exc:
            print(f"error: {exc}")
            return 2
        path = index.save(args.out)
        print(f"re-indexed {len(index)} items with {_describe(index)} in "
              f"{time.perf_counter() - t0:.1f}s -> {path}")
        return 0
    if not (args.checkpoint and args.data):
        print("error: give --checkpoint and --data (or --reindex GALLERY)")
        return 2
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, device=device, num_classes=0)
    meta = model.checkpoint_meta
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
                  "split": args.split, "model": meta["model"]["name"]}, **backend)
    except ValueError as exc:  # a FAISS spec that cannot be built
        print(f"error: {exc}")
        return 2
    path = index.save(args.out)
    print(f"indexed {len(index)} items of {args.data} ({args.split}) with {_describe(index)} "
          f"in {time.perf_counter() - t0:.1f}s -> {path}")
    return 0


def _describe(index) -> str:
    if index.backend == "exact":
        return "exact search (torch)"
    params = f", {index.faiss_params}" if index.faiss_params else ""
    rerank = f", re-ranking the best {index.rerank}" if index.rerank else ""
    return f"FAISS {index.faiss_index}{params}{rerank}"
