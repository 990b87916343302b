"""Rebuild the campus gallery in ``assets/campus/`` and measure the model on real pedestrians.

    .venv/bin/python scripts/build_campus_assets.py [--checkpoint X.safetensors]
        [--control Z0.safetensors] [--work data/campus] [--examples 6]
    .venv/bin/python scripts/build_campus_assets.py --contact-sheets /tmp/sheets

Steps (each a ``python -m ognet`` command, printed before it runs):

1. ``campus``: the Market-format set of OpenCV's ``vtest.avi`` (``WORK/images``).
2. ``prepare``: lift every crop to a coloured cloud (``WORK/clouds``; the report gives the
   pose / fallback counts).
3. ``evaluate``: Rank-1/5/10 and mAP under the Market-1501 protocol, for the checkpoint
   (default: the shipped one, ``ognet.assets.DEFAULT_CHECKPOINT``) and, with ``--control``,
   for the 2D control trained with z = 0; chance (a random ranking) is computed here.
4. ``index``: the gallery (``bounding_box_test``) with the checkpoint, into ``assets/campus/``
   (image paths relative to the set, no cloud paths: the app lifts a match's thumbnail).
   Steps 3 and 4 run side by side, one thread each.
5. ``assets/campus/``: ``examples/`` (query crops of gallery identities, one per identity,
   never in the gallery), ``check.npz`` (model-ready clouds of a few gallery items and their
   index, so ``tests/test_campus.py`` can check the features against the checkpoint),
   ``lifted_side.png`` (four crops and their lifted clouds seen from the side) and
   ``summary.json`` (counts, lifting, metrics, checkpoints).

``--contact-sheets DIR`` instead writes the sheets the labels were made from: one PNG row per
tracklet of the full video (up to 20 crops spread over its life, frame and direction under
each), and, when ``WORK/images`` holds a built set, one row per identity of its crops (every
crop of a row must show the same person: the labels' check).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.assets import CAMPUS_DIR, CAMPUS_EXAMPLES, DEFAULT_CHECKPOINT  # noqa: E402

CHECK_ITEMS = 12


def ognet(*args: str) -> float:
    cmd = [sys.executable, "-m", "ognet", *args]
    print("$", " ".join(cmd[1:]), flush=True)
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=REPO)
    print(f"  ({time.time() - t0:.0f} s)", flush=True)
    return time.time() - t0


def ognet_parallel(jobs) -> float:
    """Run several ``python -m ognet`` commands at once, one thread each; fail if any does."""
    t0 = time.time()
    procs = []
    for args in jobs:
        cmd = [sys.executable, "-m", "ognet", *args]
        print("$", " ".join(cmd[1:]), "&", flush=True)
        procs.append(subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"}))
    if any(p.wait() for p in procs):
        raise SystemExit("a command failed")
    print(f"  ({time.time() - t0:.0f} s for {len(jobs)} commands side by side)", flush=True)
    return time.time() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=str(DEFAULT_CHECKPOINT),
                        help="the 3D checkpoint whose features the gallery holds")
    parser.add_argument("--control", help="the 2D control (z = 0) checkpoint, evaluated only")
    parser.add_argument("--work", default="data/campus", help="working folder (not committed)")
    parser.add_argument("--examples", type=int, default=6, help="example queries to ship")
    parser.add_argument("--reuse", action="store_true",
                        help="keep WORK's crops and clouds (a new checkpoint only)")
    parser.add_argument("--contact-sheets", metavar="DIR",
                        help="only write the labelling contact sheets to DIR")
    args = parser.parse_args()
    work = (REPO / args.work).resolve()
    images, clouds = work / "images", work / "clouds"
    if args.contact_sheets:
        contact_sheets(Path(args.contact_sheets), images)
        return 0

    started = time.time()
    timings = {}
    if not args.reuse or not (clouds / "prepare_report.json").is_file():
        for folder in (images, clouds):
            if folder.exists():
                shutil.rmtree(folder)
        timings["campus_s"] = ognet("campus", "--out", str(images))
        timings["prepare_s"] = ognet("prepare", "--src", str(images), "--dst", str(clouds),
                                     "--workers", "2")
    runs = {"3d": Path(args.checkpoint)}
    if args.control:
        runs["2d_control"] = Path(args.control)
    if (CAMPUS_DIR / "index.safetensors").exists():
        (CAMPUS_DIR / "index.safetensors").unlink()
    # The evaluations and the index are independent: run side by side (one core each).
    jobs = [("evaluate", "--checkpoint", str(ckpt), "--data", str(clouds), "--json",
             str(work / f"evaluation_{name}.json"), "--workers", "0")
            for name, ckpt in runs.items()]
    jobs.append(("index", "--checkpoint", str(runs["3d"]), "--data", str(clouds), "--images",
                 str(images), "--out", str(CAMPUS_DIR), "--workers", "0", "--people", "real"))
    timings["evaluate_and_index_s"] = ognet_parallel(jobs)
    metrics = {}
    for name, ckpt in runs.items():
        out = work / f"evaluation_{name}.json"
        metrics[name] = {k: v for k, v in json.loads(out.read_text()).items() if k != "cmc"}
        metrics[name]["checkpoint"] = os.path.relpath(ckpt.resolve(), REPO)
        metrics[name]["checkpoint_sha256"] = sha256(ckpt)
    metrics["chance"] = chance(clouds)
    portable_gallery(images)
    write_examples(images, args.examples)
    write_check(Path(args.checkpoint), clouds)
    side_view_figure(images, clouds, CAMPUS_DIR / "lifted_side.png")

    campus = json.loads((images / "campus.json").read_text())
    lifting = json.loads((clouds / "prepare_report.json").read_text())
    summary = {
        "video": campus["video"],
        "set": {k: campus[k] for k in ("tracklets", "observations", "kept", "query",
                                        "bounding_box_test", "identities", "query_identities",
                                        "directions", "dropped")},
        "lifting": {k: lifting[k] for k in ("images", "pose", "fallback", "failed",
                                            "seconds", "images_per_second_after_startup")},
        "height_vs_crowd": relative_heights(campus),
        "metrics": metrics, "timings": timings,
        "minutes": round((time.time() - started) / 60, 1),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "load_average_1min": round(os.getloadavg()[0], 1),
    }
    (CAMPUS_DIR / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    print(json.dumps({k: summary[k] for k in ("set", "lifting", "metrics")}, indent=1))
    return 0


def relative_heights(campus: dict) -> dict:
    """Each identity's height relative to the crowd (mean of its crops' ``height_vs_crowd``,
    ``ognet.campus.dataset``), and whether that is a property of the person: the spread of
    the identities' means against the spread of one person's crops (pooled SD), and the
    share of the variance that lies between people (one-way ANOVA's intraclass correlation).
    No metres: the video has no metric reference."""
    by_pid: dict[int, list[float]] = {}
    for c in campus["crops"]:
        by_pid.setdefault(int(Path(c["file"]).name[:4]), []).append(c["height_vs_crowd"])
    means = {pid: float(np.mean(v)) for pid, v in sorted(by_pid.items())}
    within = float(np.sqrt(np.mean(np.concatenate(
        [np.asarray(v) - np.mean(v) for v in by_pid.values()]) ** 2)))
    between = float(np.std(list(means.values()), ddof=1))
    return {"by_identity": {str(k): round(v, 3) for k, v in means.items()},
            "crops_by_identity": {str(k): len(v) for k, v in sorted(by_pid.items())},
            "between_identity_sd": round(between, 4), "within_identity_sd": round(within, 4),
            "intraclass_correlation": round(between ** 2 / (between ** 2 + within ** 2), 3),
            "model": campus["height_model"]}


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def chance(clouds: Path, trials: int = 200) -> dict:
    """Rank-1/5/10 and mAP of a random ranking under the Market-1501 protocol (mean of
    ``trials`` random distance matrices, seed 0)."""
    from ognet.data import load_dataset
    from ognet.metrics import rank_metrics

    data = load_dataset(clouds, splits=("query", "gallery"))
    qp = np.array([it.pid for it in data.query])
    qc = np.array([it.camid for it in data.query])
    gp = np.array([it.pid for it in data.gallery])
    gc = np.array([it.camid for it in data.gallery])
    rng = np.random.default_rng(0)
    cmcs, maps = [], []
    for _ in range(trials):
        cmc, mAP = rank_metrics(rng.random((len(qp), len(gp))), qp, gp, qc, gc)
        cmcs.append(cmc)
        maps.append(mAP)
    cmc = np.mean(cmcs, axis=0)
    return {"rank1": 100 * cmc[0], "rank5": 100 * cmc[4], "rank10": 100 * cmc[9],
            "mAP": 100 * float(np.mean(maps)), "trials": trials}


def portable_gallery(images: Path) -> None:
    """Image names relative to the set, no cloud paths, provenance relative to the repo."""
    from ognet.gallery import GalleryIndex

    gallery = GalleryIndex.load(CAMPUS_DIR)
    gallery.image_paths = [str(Path(p).relative_to(images)) if p else "" for p in
                           gallery.image_paths]
    gallery.cloud_paths = [""] * len(gallery)
    for key in ("checkpoint", "data"):
        if gallery.meta.get(key):
            gallery.meta[key] = os.path.relpath(Path(gallery.meta[key]).resolve(), REPO)
    gallery.meta["source"] = "OpenCV vtest.avi (Debian opencv-doc), python -m ognet campus"
    gallery.save(CAMPUS_DIR)


def write_examples(images: Path, count: int) -> None:
    """One query crop for each of the first ``count`` query identities (the k-th identity's
    k-th direction, modulo its directions), copied under its Market name."""
    if CAMPUS_EXAMPLES.exists():
        shutil.rmtree(CAMPUS_EXAMPLES)
    CAMPUS_EXAMPLES.mkdir(parents=True)
    queries = sorted((images / "query").glob("*.jpg"))
    by_pid: dict[str, list[Path]] = {}
    for q in queries:
        by_pid.setdefault(q.name[:4], []).append(q)
    for k, pid in enumerate(sorted(by_pid)[:count]):
        q = by_pid[pid][k % len(by_pid[pid])]  # directions vary along the strip
        shutil.copy(q, CAMPUS_EXAMPLES / q.name)
    print(f"examples: {len(list(CAMPUS_EXAMPLES.glob('*.jpg')))} in {CAMPUS_EXAMPLES}")


def write_check(checkpoint: Path, clouds: Path) -> None:
    """``check.npz``: model-ready clouds (float16, as given to the model) of ``CHECK_ITEMS``
    gallery items spread over the gallery, and their gallery indices."""
    from ognet import load_model
    from ognet.data import PointCloudDataset, load_dataset

    model = load_model(checkpoint, device="cpu")
    meta = model.checkpoint_meta
    items = [it for it in load_dataset(clouds, splits=("gallery",)).gallery if it.pid != -1]
    dataset = PointCloudDataset(items, num_points=meta["input_points"],
                                z_zero=meta.get("z_zero", False))
    index = np.linspace(0, len(items) - 1, CHECK_ITEMS).round().astype(np.int64)
    points = np.stack([dataset.load_points(int(i)) for i in index]).astype(np.float16)
    np.savez_compressed(CAMPUS_DIR / "check.npz", points=points, index=index)


def side_view_figure(images: Path, clouds: Path, out: Path, count: int = 4) -> None:
    """Four query crops (one per identity, directions varied) and their lifted clouds seen
    from the side (z towards the camera left to right, y up), body pixels only, in their own
    colours."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from ognet.pointcloud import load_cloud

    by_pid: dict[str, list[Path]] = {}
    for q in sorted((clouds / "query").glob("*.npz")):
        by_pid.setdefault(q.name[:4], []).append(q)
    picked = [by_pid[pid][k % len(by_pid[pid])] for k, pid in enumerate(sorted(by_pid)[:count])]
    fig, axes = plt.subplots(1, 2 * len(picked), figsize=(1.5 * len(picked) * 2, 3.6),
                             gridspec_kw={"width_ratios": [1, 1.4] * len(picked)})
    for k, path in enumerate(picked):
        cloud = load_cloud(path)
        points = np.asarray(cloud["points"], dtype=np.float32)
        mask = np.asarray(cloud["mask"]).reshape(-1) if cloud["mask"] is not None else \
            np.ones(len(points), bool)
        body = points[mask]
        with Image.open(images / "query" / (path.stem + ".jpg")) as im:
            axes[2 * k].imshow(im)
        axes[2 * k].set_title(f"{path.stem[:4]} {path.stem[5:7]}", fontsize=8)
        ax = axes[2 * k + 1]
        ax.scatter(body[:, 2], body[:, 1], c=np.clip(body[:, 3:6], 0, 1), s=3, linewidths=0)
        ax.set_aspect("equal")
        ax.set_title(f"side ({cloud['method']})", fontsize=8)
        ax.set_xlabel("z (m)", fontsize=7)
        ax.tick_params(labelsize=6)
        axes[2 * k].axis("off")
    fig.tight_layout()
    fig.savefig(out, dpi=72)
    plt.close(fig)
    print(f"figure: {out} ({out.stat().st_size // 1024} KiB)")


def contact_sheets(out: Path, images: Path, per_row: int = 20, rows_per_sheet: int = 7
                   ) -> None:
    """The labelling sheets (module docstring)."""
    from PIL import Image, ImageDraw

    from ognet.campus.dataset import DIRECTION_WINDOW, crop_image, walking_direction
    from ognet.campus.track import track_video
    from ognet.campus.video import find_video, iter_frames

    out.mkdir(parents=True, exist_ok=True)
    path = find_video()
    tracklets, _ = track_video(path)
    wanted: dict[int, list[tuple[int, object, str]]] = {}
    for tr in tracklets:
        boxes, frames = tr.boxes(), tr.frames()
        heights = boxes[:, 3] - boxes[:, 1]
        feet = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)
        for i in np.unique(np.linspace(0, len(frames) - 1, min(per_row, len(frames)))
                           .round().astype(int)):
            d = walking_direction(frames, feet, heights, int(i), DIRECTION_WINDOW) or "-"
            wanted.setdefault(int(frames[i]), []).append((tr.track_id, boxes[i], d))
    crops: dict[int, list[tuple[int, np.ndarray, str]]] = {}
    for index, frame in iter_frames(path):
        for tid, box, d in wanted.get(index, []):
            crops.setdefault(tid, []).append((index, crop_image(frame, box), d))
    rows = [(f"T{tid}", [(img, f"{f} {d[:2]}") for f, img, d in crops[tid]])
            for tid in sorted(crops)]
    _sheets(rows, out / "tracklets", per_row, rows_per_sheet, Image, ImageDraw)
    if (images / "campus.json").is_file():
        files = sorted([*(images / "query").glob("*.jpg"),
                        *(images / "bounding_box_test").glob("*.jpg")],
                       key=lambda p: (p.name[:4], p.name.split("_")[2]))
        rows = []
        for p in files:
            if not rows or rows[-1][0] != p.name[:4] or len(rows[-1][1]) == per_row:
                rows.append((p.name[:4], []))
            tag = ("Q " if p.parent.name == "query" else "") + p.stem[5:7] + " " + \
                str(int(p.stem.split("_")[2]))
            rows[-1][1].append((np.asarray(Image.open(p).convert("RGB")), tag))
        _sheets(rows, out / "identities", per_row, rows_per_sheet, Image, ImageDraw)
    print(f"contact sheets in {out}")


def _sheets(rows, prefix: Path, per_row: int, rows_per_sheet: int, Image, ImageDraw) -> None:
    for s in range(0, len(rows), rows_per_sheet):
        chunk = rows[s:s + rows_per_sheet]
        sheet = Image.new("RGB", (44 + per_row * 66, len(chunk) * 142), "white")
        draw = ImageDraw.Draw(sheet)
        for r, (name, cells) in enumerate(chunk):
            y = r * 142
            draw.text((2, y + 60), name, fill="red")
            for k, (img, tag) in enumerate(cells):
                sheet.paste(Image.fromarray(img), (44 + k * 66, y))
                draw.text((44 + k * 66, y + 129), tag, fill="black")
        sheet.save(f"{prefix}_{s // rows_per_sheet:02d}.png")


if __name__ == "__main__":
    raise SystemExit(main())
