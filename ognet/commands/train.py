"""``python -m ognet train``: train an OG-Net on a prepared dataset (config file + flags).

Data parallel on N processes (GPUs, or CPU processes with gloo):
``torchrun --nproc_per_node N -m ognet train ...`` (see ``ognet.engine.distributed``).
"""

from ognet.engine.config import AMP_MODES, SCALE_MODES

NAME = "train"
HELP = "train an OG-Net on a prepared (lifted) Market-1501-format dataset"

# flag -> (TrainConfig field, type, help)
_FLAGS = {
    "--data": ("data", str, "prepared dataset folder (bounding_box_train/ ... of .npz clouds)"),
    "--dataset-format": ("dataset_format", str, "auto, market1501, dukemtmc, cuhk03np, msmt17"),
    "--out": ("out_dir", str, "output folder (checkpoints, train.log, history.jsonl)"),
    "--model": ("model", str, "ognet, ognet_small or ognet_deep"),
    "--epochs": ("epochs", int, "epochs (paper and authors: 1000; 1500 for their OG-Net and "
                 "OG-Net-Small + circle on Market-1501)"),
    "--batch-size": ("batch_size", int, "batch size (paper: 36)"),
    "--lr": ("lr", float, "Adam (amsgrad) learning rate (paper: 8e-4; authors' commands: "
             "1e-3, OG-Net-Deep 6e-4)"),
    "--weight-decay": ("weight_decay", float, "weight decay (5e-4)"),
    "--warmup-epochs": ("warmup_epochs", int, "linear warm-up epochs before the cosine decay "
                        "(10)"),
    "--average-last": ("average_last", float, "fraction of the epochs, at the end, whose "
                       "weights are averaged into OUT/final (0.1; 0: off)"),
    "--num-points": ("num_points", int, "points per cloud fed to the model (4096)"),
    "--k": ("k", int, "neighbours of the dynamic graph (20)"),
    "--dropout": ("dropout", float, "dropout before the classifier (0.7)"),
    "--loss": ("loss", str, "ce or ce+circle"),
    "--sampler": ("sampler", str, "random, balanced (every identity equally likely, the "
                  "authors' --balance) or identity (P x K batches)"),
    "--samples-per-class": ("samples_per_class", int, "balanced: each identity exactly K "
                            "times per pass (the authors' --class K); 0: independent draws"),
    "--num-instances": ("num_instances", int, "K of the identity sampler"),
    "--val-identities": ("val_identities", int, "hold out N training identities as a "
                         "validation split; OUT/best_val is the best epoch on it"),
    "--eval-every": ("eval_every", int, "evaluate every N epochs on the held-out identities, "
                     "or else on the test split as monitoring only (0: never)"),
    "--init": ("init", str, "fine-tune: start from this checkpoint (X.safetensors), all but "
               "its classifier (new: this data's identities); same architecture needed"),
    "--save-every": ("save_every", int, "save the last checkpoint every N epochs"),
    "--device": ("device", str, "auto, cpu or cuda"),
    "--workers": ("workers", int, "DataLoader workers"),
    "--seed": ("seed", int, "random seed"),
}


def add_arguments(parser):
    parser.add_argument("--config", help="YAML or JSON file of TrainConfig fields "
                        "(e.g. configs/ognet_market.yaml); flags override it")
    for flag, (dest, typ, text) in _FLAGS.items():
        parser.add_argument(flag, dest=dest, type=typ, default=None, help=text)
    parser.add_argument("--z-zero", dest="z_zero", action="store_const", const=True,
                        default=None, help="2D control: set z to 0 (Table I, '2D image')")
    parser.add_argument("--no-background", dest="background", action="store_const",
                        const=False, default=None, help="train and evaluate on the person's "
                        "points only (a study arm; the app refuses such a checkpoint)")
    parser.add_argument("--scale-mode", dest="scale_mode", choices=SCALE_MODES, default=None,
                        help="per_axis (the authors', default) or isotropic scale "
                        "augmentation")
    parser.add_argument("--amp", dest="amp", choices=AMP_MODES, default=None,
                        help="mixed precision: bf16 or fp16 autocast (default off: float32, "
                        "as the authors; graph distances stay float32)")
    parser.add_argument("--resume", dest="resume", action="store_const", const=True,
                        default=None, help="continue from OUT/last.safetensors")
    parser.add_argument("--set", dest="model_set", action="append", default=[],
                        metavar="FIELD=VALUE", help="model config override, e.g. "
                        "--set channels=[16,32,64,128] (JSON values); repeatable")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run(args) -> int:
    import json
    import os

    from ognet.engine import CheckpointError, TrainConfig, train
    from ognet.engine.distributed import shutdown

    overrides = {dest: getattr(args, dest) for dest, _, _ in _FLAGS.values()}
    for key in ("z_zero", "background", "scale_mode", "amp", "resume"):
        overrides[key] = getattr(args, key)
    if args.config:
        config = TrainConfig.from_file(args.config, **overrides)
    else:
        config = TrainConfig.from_dict({k: v for k, v in overrides.items() if v is not None})
    for item in args.model_set:
        key, _, value = item.partition("=")
        try:
            config.model_overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            config.model_overrides[key] = value
    if not config.data:
        print("error: no training data (--data or 'data:' in the config file)")
        return 2
    try:
        result = train(config, progress=not args.quiet)
    except CheckpointError as e:           # e.g. an --init of another architecture
        print(f"error: {e}")
        shutdown()
        return 2
    shutdown()                                 # leave torchrun's process group, if joined
    if int(os.environ.get("RANK", "0")) != 0:  # under torchrun, rank 0 alone reports
        return 0
    shown = " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                     for k, v in result["metrics"].items())
    print(f"done: {result['epoch']} epochs, {shown}")
    print(f"checkpoint: {result['checkpoint']} (evaluate this one: no checkpoint is chosen "
          "on the test split)")
    return 0
