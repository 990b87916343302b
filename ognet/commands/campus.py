"""``python -m ognet campus``: a real re-id set from OpenCV's campus video (``ognet.campus``)."""

NAME = "campus"
HELP = ("build a Market-1501-format re-id set of real pedestrians from OpenCV's campus video "
        "(vtest.avi, Debian package opencv-doc)")


def add_arguments(parser):
    parser.add_argument("--out", required=True, help="output folder (query/, "
                        "bounding_box_test/, campus.json)")
    parser.add_argument("--video", default=None, help="the video (default: "
                        "/usr/share/doc/opencv-doc/examples/data/vtest.avi)")
    parser.add_argument("--limit", type=int, default=0,
                        help="process only the first N frames (0: all 795)")
    parser.add_argument("--labels", default=None,
                        help="tracklet identities (default: assets/campus/labels.json)")


def run(args) -> int:
    import time

    from ognet.campus import CampusError, Labels, build_campus

    t0 = time.perf_counter()
    try:
        labels = Labels.load(args.labels) if args.labels else None
        report = build_campus(args.out, video=args.video, limit=args.limit, labels=labels)
    except (CampusError, FileExistsError) as exc:
        print(f"error: {exc}")
        return 2
    dropped = ", ".join(f"{k} {v}" for k, v in report["dropped"].items())
    print(f"{report['tracklets']} tracklets, {report['observations']} boxes -> "
          f"{report['kept']} crops of {report['identities']} identities "
          f"({report['query']} query, {report['bounding_box_test']} gallery) in {args.out} "
          f"in {time.perf_counter() - t0:.1f} s")
    print(f"directions: {report['directions']}; dropped: {dropped}")
    return 0
