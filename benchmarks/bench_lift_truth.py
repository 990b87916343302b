"""Lifting against truth: every lifting of ``ognet.lift.LIFTINGS`` on held-out synthetic crops.

Usage::

    python benchmarks/bench_lift_truth.py [--crops 300] [--liftings mean_body person:1 ...]
        [--seed 2121] [--csv benchmarks/results/lift_truth.csv] [--tiny]

Each crop of the held-out world (seed :data:`TRUTH_SEED`, used by nothing else in ognet: no
dataset, test or shipped model is rendered from it) is rendered once with its truth
(``Synthesizer.render_truth``), encoded as the dataset's JPEG, and lifted by every lifting
named, side by side in one run. Crop ``k`` is identity ``k // 2 + 1`` seen by the ``k % 2``-th
of two different cameras drawn for it (:func:`plan`), take 0.

Per crop and lifting (:func:`score`; the lifted cloud's frame is an orthographic fit, x to the
image's right, y up, z towards the camera; the truth's is the pinhole camera's, with the same
axes, aimed at the person, so directions compare without a transform; lengths and depths do
not, and are compared scale-free):

* ``pose_found``: the lifting found a pose (``method == "pose"``), not its fallback;
* ``iou``: silhouette IoU of ``LiftResult.foreground`` with the true mask; ``precision``:
  the share of the lifted person's pixels that are the person's, ``recall``: the share of the
  person's pixels the lifted one covers; ``height_ratio`` and ``width_ratio``: the lifted
  silhouette's height (rows spanned) and mean width per row over the true one's;
* ``depth_r``: Pearson r of the cloud's z with the true depth (z towards the camera) on the
  pixels both call the person's; ``depth_rmse_cm`` the RMSE after the best offset and scale
  (a crop has no absolute depth), beside ``depth_std_cm``, the true depth's spread there (the
  RMSE of a flat cloud); ``relief_r``: the same r after taking out of both the best plane in
  the pixel coordinates, i.e. the body's relief without the tilt a camera looking down gives
  the whole person;
* ``lean_deg``: the angle between the lifted and the true pelvis -> neck direction;
  ``tilt_deg``: its signed part towards the camera (lifted minus true; the true spine leans
  towards a camera looking down by about its pitch); ``flipped``: lean error over 45 degrees;
* ``facing_deg``: angle between the lifted and the true facing (the normal of the hips and
  the spine); ``back_to_front``: over 90 degrees, the person seen from the wrong side;
* ``pa_mpjpe_mm``: mean error of the 24 joints after the best similarity transform
  (Procrustes, in the truth's metres); ``joints_2d_px``: mean pixel distance of the lifted
  joints, placed on the crop by the cloud's own pixel grid, to the true ones projected;
  ``landmarks_2d_px``: the same for the pose estimator's own 2D landmarks of the 12 limb
  joints (shoulders, elbows, wrists, hips, knees, ankles) where the lifting gives them, which
  tells the pose estimator's error from the body fit's (the two skeletons' definitions differ
  by a few centimetres, about a pixel);
* ``height_err_cm`` where the lifting gives ``height_m``; ``pitch_err_deg`` where it gives
  ``camera_pitch_deg``;
* ``build_err_pct``: mean relative error of the six trunk proportions of
  ``ognet.body.body_measurements`` (chest, waist, hip breadth and depth to height) from the
  lifted betas; ``pve_t_sc_mm``: the rest meshes' mean vertex distance after centring and the
  best scale (SSP-3D's PVE-T-SC). The references give the same two for betas = 0 (the
  template) and for the population's mean betas, whatever the lifting;
* ``lift_ms``: wall time of the lifting call (JPEG bytes in).

Prints Markdown tables (summary, breakdown by view, pitch and bag, the identities' build
spread) and writes the per-crop rows to ``--csv``. ``--tiny`` lifts 4 crops (the CI test).
"""

from __future__ import annotations

import argparse
import csv
import io
import platform
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from ognet.body import (  # noqa: E402
    BUILD_MEASURES,
    SMPL_JOINT_NAMES,
    body_measurements,
    load_body_model,
    rest_vertices,
)

#: The held-out synthetic world (issue 21); nothing else renders it.
TRUTH_SEED = 2121
#: A second world, for tuning a lifting before it is measured on the held-out one.
DEV_SEED = 3131
J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

#: ANSUR II (Gordon et al. 2014, "2012 Anthropometric Survey of U.S. Army Personnel: Methods
#: and Summary Statistics", NATICK/TR-15/007), computed from its public data files (4,082
#: men, 1,986 women): (men mean, women mean, men SD, women SD) of stature (m) and of each
#: measure divided by stature (chestbreadth, chestdepth, waistbreadth, waistdepth, hipbreadth,
#: buttockdepth).
ANSUR_II = {
    "height_m": (1.7562, 1.6285, 0.0685, 0.0642),
    "chest_width": (0.1649, 0.1655, 0.0102, 0.0110),
    "chest_depth": (0.1446, 0.1520, 0.0147, 0.0165),
    "waist_width": (0.1860, 0.1842, 0.0193, 0.0195),
    "waist_depth": (0.1355, 0.1309, 0.0196, 0.0192),
    "hip_width": (0.1970, 0.2174, 0.0129, 0.0153),
    "hip_depth": (0.1401, 0.1431, 0.0149, 0.0147),
}

#: SMPL joint -> MediaPipe Pose landmark index, for the 12 limb joints.
LIMB_LANDMARKS = {"left_shoulder": 11, "right_shoulder": 12, "left_elbow": 13,
                  "right_elbow": 14, "left_wrist": 15, "right_wrist": 16, "left_hip": 23,
                  "right_hip": 24, "left_knee": 25, "right_knee": 26, "left_ankle": 27,
                  "right_ankle": 28}
METRICS = ("pose_found", "iou", "precision", "recall", "height_ratio", "width_ratio",
           "depth_r", "depth_rmse_cm",
           "depth_std_cm", "relief_r", "lean_deg", "tilt_deg", "flipped", "facing_deg",
           "back_to_front", "pa_mpjpe_mm", "joints_2d_px", "landmarks_2d_px", "height_err_cm",
           "pitch_err_deg", "build_err_pct", "pve_t_sc_mm", "lift_ms")


def plan(crops: int, seed: int = TRUTH_SEED) -> list[tuple[int, int, int]]:
    """(pid, cam, index) of the benchmark's crops: two different cameras per identity."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 21])))
    out = []
    for k in range(crops):
        if k % 2 == 0:
            cams = rng.choice(np.arange(1, 7), 2, replace=False)
        out.append((k // 2 + 1, int(cams[k % 2]), 0))
    return out


# --------------------------------------------------------------------------- metrics


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))))


def facing(joints: np.ndarray) -> np.ndarray:
    """(3,) the way a body faces: the normal of its hips (left minus right) and its spine."""
    return np.cross(joints[J["left_hip"]] - joints[J["right_hip"]],
                    joints[J["neck"]] - joints[J["pelvis"]])


def procrustes_error(pred: np.ndarray, true: np.ndarray) -> float:
    """Mean distance of ``pred`` (N, 3) to ``true`` (N, 3) after the best rotation, scale and
    translation of ``pred`` (Umeyama), in ``true``'s units."""
    p, t = pred - pred.mean(0), true - true.mean(0)
    u, s, vt = np.linalg.svd(p.T @ t)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    u[:, -1] *= d
    rot = u @ vt
    scale = s.sum() / (p**2).sum()
    return float(np.linalg.norm(scale * p @ rot - t, axis=1).mean())


def cloud_pixels(points: np.ndarray, xyz: np.ndarray, hw=(128, 64)) -> np.ndarray:
    """(N, 3) points of the cloud's frame -> (N, 2) crop pixels (u, v), from the cloud's own
    pixel grid: one point per pixel, row-major, x and y linear in the pixel's centre."""
    grid = points[:, :3].reshape(*hw, 3)
    cols = np.arange(hw[1]) + 0.5
    rows = np.arange(hw[0]) + 0.5
    ax, bx = np.polyfit(cols, grid[0, :, 0], 1)
    ay, by = np.polyfit(rows, grid[:, 0, 1], 1)
    return np.stack([(xyz[:, 0] - bx) / ax, (xyz[:, 1] - by) / ay], axis=1)


def _plane_residual(values: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    design = np.stack([np.ones_like(rows, dtype=float), rows, cols], axis=1)
    coef, *_ = np.linalg.lstsq(design, values, rcond=None)
    return values - design @ coef


def score(result, truth, body, truth_build: dict, result_build: dict | None) -> dict:
    """The metrics of one lifted crop against its truth (see the module doc).

    Args:
        result: a ``LiftResult`` (or anything with its fields).
        truth: the crop's ``RenderTruth``.
        body: the body model (for the rest meshes of PVE-T-SC).
        truth_build, result_build: ``body_measurements`` of the true and the lifted betas
            (one body each; ``result_build`` None when the lifting gives no betas).
    """
    row = {"pose_found": float(result.method == "pose")}
    fg, mask = np.asarray(result.foreground, bool), truth.mask
    row["iou"] = float((fg & mask).sum() / max((fg | mask).sum(), 1))
    row["precision"] = float((fg & mask).sum() / max(fg.sum(), 1))
    row["recall"] = float((fg & mask).sum() / max(mask.sum(), 1))
    row["height_ratio"] = row["width_ratio"] = np.nan
    if fg.any() and mask.any():
        row["height_ratio"] = float(np.ptp(np.flatnonzero(fg.any(1))) + 1) / (
            np.ptp(np.flatnonzero(mask.any(1))) + 1)
        row["width_ratio"] = float(fg.sum() / fg.any(1).sum() / (mask.sum() / mask.any(1).sum()))

    both = fg & mask
    row.update(depth_r=np.nan, depth_rmse_cm=np.nan, depth_std_cm=np.nan, relief_r=np.nan)
    if both.sum() >= 20:
        z_lift = result.points[:, 2].reshape(mask.shape)[both].astype(np.float64)
        z_true = -truth.depth[both].astype(np.float64)
        row["depth_std_cm"] = 100 * float(z_true.std())
        if z_lift.std() > 0:
            row["depth_r"] = float(np.corrcoef(z_lift, z_true)[0, 1])
            slope, offset = np.polyfit(z_lift, z_true, 1)
            row["depth_rmse_cm"] = 100 * float(np.sqrt(np.mean(
                (slope * z_lift + offset - z_true) ** 2)))
            rows, cols = np.nonzero(both)
            a, b = _plane_residual(z_lift, rows, cols), _plane_residual(z_true, rows, cols)
            if a.std() > 0 and b.std() > 0:
                row["relief_r"] = float(np.corrcoef(a, b)[0, 1])

    lifted, true = np.asarray(result.joints, np.float64), truth.joints.astype(np.float64)
    spine_l = lifted[J["neck"]] - lifted[J["pelvis"]]
    spine_t = true[J["neck"]] - true[J["pelvis"]]
    row["lean_deg"] = _angle(spine_l, spine_t)
    row["tilt_deg"] = float(np.degrees(np.arctan2(spine_l[2], spine_l[1])
                                       - np.arctan2(spine_t[2], spine_t[1])))
    row["flipped"] = float(row["lean_deg"] > 45.0)
    row["facing_deg"] = _angle(facing(lifted), facing(true))
    row["back_to_front"] = float(row["facing_deg"] > 90.0)
    row["pa_mpjpe_mm"] = 1000 * procrustes_error(lifted, true)
    row["joints_2d_px"] = float(np.linalg.norm(
        cloud_pixels(result.points, lifted) - truth.project(true), axis=1).mean())

    row["landmarks_2d_px"] = np.nan
    landmarks = getattr(result, "landmarks_2d", None)
    if landmarks is not None:
        row["landmarks_2d_px"] = float(np.linalg.norm(
            landmarks[list(LIMB_LANDMARKS.values()), :2]
            - truth.project(true[[J[j] for j in LIMB_LANDMARKS]]), axis=1).mean())

    height = getattr(result, "height_m", None)
    row["height_err_cm"] = np.nan if height is None else 100 * abs(height - truth.height_m)
    pitch = getattr(result, "camera_pitch_deg", None)
    row["pitch_err_deg"] = np.nan if pitch is None else abs(pitch - truth.camera_pitch_deg)
    row["build_err_pct"] = row["pve_t_sc_mm"] = np.nan
    if result_build is not None:
        row["build_err_pct"] = build_error(result_build, truth_build)
        row["pve_t_sc_mm"] = pve_t_sc(body, result.betas, truth.betas)
    return row


def build_error(estimate: dict, truth: dict) -> float:
    """Mean relative error (%) of the six trunk proportions of ``body_measurements``."""
    return float(np.mean([100 * abs(estimate[m][0] / truth[m][0] - 1) for m in BUILD_MEASURES]))


def pve_t_sc(body, betas: np.ndarray, true_betas: np.ndarray) -> float:
    """SSP-3D's PVE-T-SC (mm): the rest meshes' mean vertex distance after centring both and
    scaling the estimate by the best factor."""
    est, ref = rest_vertices(body, np.stack([betas, true_betas]))
    est, ref = est - est.mean(0), ref - ref.mean(0)
    scale = (est * ref).sum() / (est**2).sum()
    return 1000 * float(np.linalg.norm(scale * est - ref, axis=1).mean())


def view_of(truth) -> str:
    """``front``, ``side`` or ``back``: how the person faces the camera (within 60 degrees
    of it, of away from it, or between)."""
    f = facing(truth.joints.astype(np.float64))
    cos = f[2] / np.linalg.norm(f)
    return "front" if cos > 0.5 else "back" if cos < -0.5 else "side"


# --------------------------------------------------------------------------- the run


def _jpeg(image: np.ndarray) -> bytes:
    from ognet.synth.dataset import JPEG_QUALITY

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _lifter(lifter_class, spec: str):
    """``NAME`` -> ``Lifter(lifting=NAME)``; ``NAME:N`` -> the same with ``depth_samples=N``
    (a variant beside the lifting, e.g. ``person:1`` for one ray per pixel)."""
    name, _, samples = spec.partition(":")
    return lifter_class(lifting=name, depth_samples=int(samples) if samples else None)


def run(crops: int, liftings: list[str], seed: int = TRUTH_SEED, progress: bool = True):
    """Render, lift and score; returns the per-crop rows (one per crop and lifting), the
    truths' build references and the identities' betas."""
    from tqdm import tqdm

    from ognet.lift import Lifter, LiftError
    from ognet.synth import Synthesizer

    body = load_body_model()
    synth = Synthesizer(seed, body=body)
    lifters = {name: _lifter(Lifter, name) for name in liftings}
    zeros, mean = np.zeros(10, np.float32), np.asarray(body.betas_mean, np.float32)
    rows, refs, identities = [], {"zero": [], "mean": []}, {}
    for pid, cam, index in tqdm(plan(crops, seed), desc="crops", disable=not progress):
        truth = synth.render_truth(pid, cam, index)
        identities[pid] = truth.betas
        truth_build = _one(body_measurements(body, truth.betas))
        for ref, betas in (("zero", zeros), ("mean", mean)):
            refs[ref].append((build_error(_one(body_measurements(body, betas)), truth_build),
                              pve_t_sc(body, betas, truth.betas)))
        jpeg = _jpeg(truth.image)
        base = {"pid": pid, "cam": cam, "index": index, "view": view_of(truth),
                "true_pitch_deg": truth.camera_pitch_deg, "true_height_m": truth.height_m,
                "bag": synth.identity(pid).bag, "mask_px": int(truth.mask.sum())}
        for name, lifter in lifters.items():
            t0 = time.perf_counter()
            try:
                result = lifter(jpeg)
            except LiftError as exc:
                rows.append({**base, "lifting": name, "error": str(exc)})
                continue
            ms = 1000 * (time.perf_counter() - t0)
            lifted_build = None
            if result.betas is not None:
                lifted_build = _one(body_measurements(body, result.betas))
            row = score(result, truth, body, truth_build, lifted_build)
            rows.append({**base, "lifting": name, **row, "lift_ms": ms, "error": ""})
    return rows, {k: np.array(v) for k, v in refs.items()}, np.stack(list(identities.values()))


def _one(measures: dict) -> dict:
    return {k: v[:1] for k, v in measures.items()}


def _cell(values: np.ndarray, kind: str) -> str:
    values = np.asarray(values, np.float64)
    values = values[np.isfinite(values)]
    if not len(values):
        return "n/a"
    if kind == "rate":
        return f"{100 * values.mean():.1f}%"
    fmt = "{:.2f}" if kind == "r" else "{:.1f}"
    return f"{fmt.format(np.median(values))} ({fmt.format(values.mean())})"


#: (metric, label, kind) of the summary table; kind: rate, r (2 decimals) or a number.
SUMMARY = (
    ("pose_found", "pose found", "rate"),
    ("iou", "silhouette IoU, median (mean)", "r"),
    ("precision", "silhouette precision (lifted pixels on the person)", "r"),
    ("recall", "silhouette recall (person's pixels covered)", "r"),
    ("height_ratio", "silhouette height, lifted / true", "r"),
    ("width_ratio", "silhouette mean width per row, lifted / true", "r"),
    ("depth_r", "depth Pearson r", "r"),
    ("depth_rmse_cm", "depth RMSE after offset and scale, cm", "num"),
    ("depth_std_cm", "(true depth spread on those pixels, cm)", "num"),
    ("relief_r", "relief r (tilt plane taken out)", "r"),
    ("lean_deg", "lean error, pelvis -> neck, deg", "num"),
    ("tilt_deg", "signed tilt error towards the camera, deg", "num"),
    ("flipped", "flipped fits (lean error > 45 deg)", "rate"),
    ("facing_deg", "facing error, deg", "num"),
    ("back_to_front", "seen from the wrong side (facing > 90 deg)", "rate"),
    ("pa_mpjpe_mm", "PA-MPJPE, 24 joints, mm", "num"),
    ("joints_2d_px", "2D joint error, px (crop 128x64)", "num"),
    ("landmarks_2d_px", "pose estimator's 2D landmark error, px", "num"),
    ("height_err_cm", "height error, cm", "num"),
    ("pitch_err_deg", "camera pitch error, deg", "num"),
    ("build_err_pct", "build error, trunk proportions, %", "num"),
    ("pve_t_sc_mm", "PVE-T-SC, mm", "num"),
    ("lift_ms", "lift time, ms", "num"),
)


def summary_table(rows: list[dict], liftings: list[str]) -> str:
    by = {name: [r for r in rows if r["lifting"] == name and not r["error"]]
          for name in liftings}
    lines = ["| metric | " + " | ".join(f"`{n}`" for n in liftings) + " |",
             "|---|" + "---|" * len(liftings)]
    for metric, label, kind in SUMMARY:
        cells = [_cell([r[metric] for r in by[n]], kind) for n in liftings]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    failed = [sum(1 for r in rows if r["lifting"] == n and r["error"]) for n in liftings]
    lines.append("| failed (LiftError) | " + " | ".join(str(f) for f in failed) + " |")
    return "\n".join(lines)


def breakdown_table(rows: list[dict], liftings: list[str]) -> str:
    """pose found, IoU, depth r, lean error and wrong-side rate per group of crops."""
    groups = [("all", lambda r: True), ("pose found", lambda r: r["pose_found"] == 1),
              ("fallback", lambda r: r["pose_found"] == 0)]
    groups += [(f"view: {v}", lambda r, v=v: r["view"] == v) for v in ("front", "side", "back")]
    groups += [("pitch < 20", lambda r: r["true_pitch_deg"] < 20),
               ("pitch 20-30", lambda r: 20 <= r["true_pitch_deg"] < 30),
               ("pitch >= 30", lambda r: r["true_pitch_deg"] >= 30),
               ("with a bag", lambda r: r["bag"] != "none"),
               ("no bag", lambda r: r["bag"] == "none")]
    head = "| crops | " + " | ".join(
        f"`{n}`: n, pose, IoU, depth r, lean, wrong side" for n in liftings) + " |"
    lines = [head, "|---|" + "---|" * len(liftings)]
    for label, keep in groups:
        cells = []
        for name in liftings:  # "pose found" and "fallback" are each lifting's own crops
            sel = [r for r in rows if r["lifting"] == name and not r["error"] and keep(r)]
            if not sel:
                cells.append("0")
                continue
            med = {m: np.nanmedian([r[m] for r in sel]) for m in ("iou", "depth_r", "lean_deg")}
            cells.append(f"{len(sel)}, {100 * np.mean([r['pose_found'] for r in sel]):.0f}%, "
                         f"{med['iou']:.2f}, {med['depth_r']:.2f}, {med['lean_deg']:.0f} deg, "
                         f"{100 * np.mean([r['back_to_front'] for r in sel]):.0f}%")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def spread_table(body, betas: np.ndarray) -> str:
    """The identities' build next to ANSUR II: mean, SD and coefficient of variation."""
    m = body_measurements(body, betas)
    lines = ["| measure (ratio to height) | synthetic: mean, SD, CV | ANSUR II men | "
             "ANSUR II women | ANSUR II, both (equal weights): mean, SD, CV |",
             "|---|---|---|---|---|"]
    for name in ("height_m", *BUILD_MEASURES):
        v = m[name]
        mm, mw, sm, sw = ANSUR_II[name]
        mean = (mm + mw) / 2
        sd = np.sqrt((sm**2 + sw**2) / 2 + ((mm - mw) / 2) ** 2)
        unit = " m" if name == "height_m" else ""
        lines.append(f"| {name} | {v.mean():.3f}{unit}, {v.std():.3f}, "
                     f"{100 * v.std() / v.mean():.1f}% | {mm:.3f}, {sm:.3f} | {mw:.3f}, "
                     f"{sw:.3f} | {mean:.3f}, {sd:.3f}, {100 * sd / mean:.1f}% |")
    return "\n".join(lines)


def write_csv(rows: list[dict], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = ["lifting", "pid", "cam", "index", "view", "true_pitch_deg", "true_height_m", "bag",
            "mask_px", *METRICS, "error"]
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, keys, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v)
                             for k, v in row.items()})


def main(argv: list[str] | None = None) -> int:
    from ognet.lift import LIFTINGS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--crops", type=int, default=300)
    parser.add_argument("--liftings", nargs="+", default=list(LIFTINGS), metavar="NAME[:N]",
                        help=f"of {', '.join(LIFTINGS)} (default: all); NAME:N is that "
                        f"lifting with N x N depth rays per pixel")
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks" / "results" /
                        "lift_truth.csv", help="per-crop rows")
    parser.add_argument("--tiny", action="store_true", help="4 crops (the CI test)")
    parser.add_argument("--seed", type=int, default=TRUTH_SEED,
                        help=f"the world's seed (default {TRUTH_SEED}, the held-out one that "
                        f"the figures in BENCHMARKS.md quote; tune lifting changes on another, "
                        f"e.g. {DEV_SEED}, and report them on the default)")
    args = parser.parse_args(argv)
    for spec in args.liftings:
        name, _, samples = spec.partition(":")
        if name not in LIFTINGS or not (samples == "" or samples.isdigit()):
            parser.error(f"--liftings: {spec!r} is not NAME or NAME:N with NAME one of "
                         f"{', '.join(LIFTINGS)}")
    crops = 4 if args.tiny else args.crops

    import torch

    t0 = time.perf_counter()
    rows, refs, betas = run(crops, args.liftings, args.seed, progress=not args.tiny)
    wall = time.perf_counter() - t0
    write_csv(rows, args.csv)
    print(f"## Lifting against truth: {crops} crops of {len(betas)} identities, seed "
          f"{args.seed}; {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} torch threads, {wall:.0f} s\n")
    print(summary_table(rows, args.liftings))
    print(f"\nReferences, whatever the lifting: betas = 0 (the template): build error "
          f"{np.median(refs['zero'][:, 0]):.1f}%, PVE-T-SC {np.median(refs['zero'][:, 1]):.1f}"
          f" mm; betas = the population's mean: {np.median(refs['mean'][:, 0]):.1f}%, "
          f"{np.median(refs['mean'][:, 1]):.1f} mm (medians).\n")
    print(breakdown_table(rows, args.liftings))
    print()
    print(spread_table(load_body_model(), betas))
    print(f"\nper-crop rows: {args.csv}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
