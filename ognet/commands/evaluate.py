"""``python -m ognet evaluate``: Rank-1/5/10 and mAP of a checkpoint on a query/gallery split."""

NAME = "evaluate"
HELP = "evaluate a checkpoint (Rank-1/5/10, mAP) on a prepared dataset's query/gallery split"

AP_LABELS = {"trapezoid": "trapezoid AP, as Market-1501's evaluation code",
             "step": "step AP, mean precision at the hits"}


def add_arguments(parser):
    from ognet.engine.config import AMP_MODES
    from ognet.metrics import AP_MODES

    parser.add_argument("--checkpoint", required=True,
                        help="X.safetensors (with X.json beside); a training run's "
                        "final.safetensors (never a checkpoint chosen on the test split)")
    parser.add_argument("--data", required=True, help="prepared dataset folder")
    parser.add_argument("--dataset-format", default="auto")
    parser.add_argument("--ap-mode", choices=AP_MODES, default=AP_MODES[0],
                        help="AP definition: trapezoid (Market-1501's code, default) or step")
    parser.add_argument("--authors-tta", action="store_true",
                        help="the authors' test-time feature: the cloud plus the cloud scaled "
                        "by 1.1, summed, L2-normalised (off by default: the app and the "
                        "gallery index use one pass)")
    parser.add_argument("--amp", choices=AMP_MODES, default="off",
                        help="mixed precision: bf16 or fp16 autocast (default off: float32, "
                        "as the authors; graph distances stay float32)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", help="also write the results to this JSON file")


def run(args) -> int:
    import json
    import time

    from ognet.data import PointCloudDataset, load_dataset
    from ognet.engine import (
        AUTHORS_TEST_SCALES,
        CheckpointError,
        check_not_test_selected,
        evaluate_retrieval,
        load_model,
        resolve_device,
    )

    t0 = time.perf_counter()
    device = resolve_device(args.device)
    try:
        check_not_test_selected(args.checkpoint)
    except CheckpointError as e:
        print(f"error: {e}")
        return 2
    model = load_model(args.checkpoint, device=device, num_classes=0)
    meta = model.checkpoint_meta
    data = load_dataset(args.data, args.dataset_format, splits=("query", "gallery"))
    kw = {"num_points": meta["input_points"], "z_zero": meta.get("z_zero", False),
          "background": meta.get("background", True)}
    query = PointCloudDataset(data.query, **kw)
    gallery = PointCloudDataset(data.gallery, **kw)
    scales = AUTHORS_TEST_SCALES if args.authors_tta else (1.0,)
    t1 = time.perf_counter()
    res = evaluate_retrieval(model, query, gallery, batch_size=args.batch_size, device=device,
                             workers=args.workers, ap_mode=args.ap_mode, scales=scales,
                             amp=args.amp)
    feature = ("cloud + cloud x1.1 (authors' test-time feature)" if args.authors_tta
               else "one pass") + ("" if args.amp == "off" else f", {args.amp} autocast")
    print(f"{data.format} {args.data}: {res['num_query']} queries, {res['num_gallery']} "
          f"gallery items, model {meta['model']['name']}"
          f"{' (z = 0)' if kw['z_zero'] else ''}"
          f"{'' if kw['background'] else ' (person points only)'} on {device}")
    print(f"checkpoint {args.checkpoint}: epoch {meta.get('epoch')}, "
          f"{meta.get('selection', 'selection not recorded')}"
          f"{', weight-averaged' if meta.get('weight_averaged') else ''}; feature: {feature}")
    print(f"Rank-1 {res['rank1']:.2f}  Rank-5 {res['rank5']:.2f}  Rank-10 {res['rank10']:.2f}  "
          f"mAP {res['mAP']:.2f} ({AP_LABELS[args.ap_mode]})")
    print(f"time: load {t1 - t0:.2f}s, features {res['extract_s']:.2f}s "
          f"({1000 * res['extract_s'] / max(1, res['num_query'] + res['num_gallery']):.1f} "
          f"ms/item), matching {res['match_s']:.3f}s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({**res, "checkpoint": str(args.checkpoint),
                       "selection": meta.get("selection")}, f, indent=2)
    return 0
