"""``python -m ognet models``: list the registered OG-Net variants with parameter counts."""

NAME = "models"
HELP = "list the OG-Net variants and their parameter counts"


def add_arguments(parser):
    parser.add_argument("--num-classes", type=int, default=0, help="identity classes (0: none)")


def run(args) -> int:
    from ognet.models import (
        AUTHORS_PARAMS,
        PAPER_PARAMS,
        count_parameters,
        create_model,
        list_models,
    )

    print("parameters without the identity classifier")
    print(f"{'variant':<14}{'ours':>12}{'authors':>12}{'paper':>9}")
    for name in list_models():
        model = create_model(name, num_classes=args.num_classes)
        ours = count_parameters(model, include_classifier=False)
        print(f"{name:<14}{ours:>12,}{AUTHORS_PARAMS[name]:>12,}{PAPER_PARAMS[name] / 1e6:>8.2f}M")
    if args.num_classes:
        extra = count_parameters(model, include_classifier=True) - ours
        print(f"(a classifier of {args.num_classes} identities adds {extra:,})")
    return 0
