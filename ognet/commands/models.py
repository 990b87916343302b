"""``python -m ognet models``: list the registered OG-Net variants with parameter counts."""

NAME = "models"
HELP = "list the OG-Net variants and their parameter counts"


def add_arguments(parser):
    parser.add_argument("--num-classes", type=int, default=0, help="identity classes (0: none)")


def run(args) -> int:
    from ognet.models import PAPER_PARAMS, count_parameters, create_model, list_models

    print(f"{'variant':<14}{'params':>10}{'paper':>10}")
    for name in list_models():
        model = create_model(name, num_classes=args.num_classes)
        ours = count_parameters(model, include_classifier=False) / 1e6
        print(f"{name:<14}{ours:>9.2f}M{PAPER_PARAMS[name] / 1e6:>9.2f}M")
    return 0
