"""``python -m ognet index``: build a gallery index (features + thumbnails) from a checkpoint."""

NAME = "index"
HELP = "build a GalleryIndex of a prepared dataset split with a checkpoint"


def add_arguments(parser):
    parser.add_argument("--checkpoint", required=True, help="X.safetensors (with X.json beside)")
    parser.add_argument("--data", required=True, help="prepared dataset folder")
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


def run(args) -> int:
    import time

    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine import load_model, resolve_device
    from ognet.gallery import GalleryIndex

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    model = load_model(args.checkpoint, device=device, num_classes=0)
    meta = model.checkpoint_meta
    data = load_dataset(args.data, args.dataset_format, splits=(args.split,),
                        image_root=args.images)
    items = [it for it in data.split(args.split) if args.keep_junk or it.pid != -1]
    dataset = PointCloudDataset(items, num_points=meta["input_points"],
                                z_zero=meta.get("z_zero", False))
    index = GalleryIndex.build(model, dataset, batch_size=args.batch_size, device=device,
                               thumbnails=not args.no_thumbnails, workers=args.workers,
                               meta={"checkpoint": str(args.checkpoint), "data": str(args.data),
                                     "split": args.split, "model": meta["model"]["name"]})
    path = index.save(args.out)
    print(f"indexed {len(index)} items of {args.data} ({args.split}) in "
          f"{time.perf_counter() - t0:.1f}s -> {path}")
    return 0
