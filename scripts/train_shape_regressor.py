"""Train the ``"person"`` lifting's shape regressor (``assets/lift/shape_regressor.safetensors``).

Usage::

    python scripts/train_shape_regressor.py [--seeds 100-139] [--val-seeds 140-143]
        [--identities 50] [--views 4] [--copies 4] [--epochs 60] [--members 3]
        [--workers 1] [--data data/shape_regressor]
        [--out assets/lift/shape_regressor.safetensors]

1. **Renders with truth.** For each training seed of the generator, ``--identities`` people,
   each seen ``--views`` times by cameras drawn from 30 per seed (numbers above 6 are extra
   cameras the datasets never use: more camera heights and distances, hence more pitches),
   each at a random take. ``Synthesizer(seed).render_truth`` gives the crop and its truth
   (joints in the camera frame, pinhole, camera pitch, shape parameters); MediaPipe is run
   on the crop as the ``"person"`` lifting runs it on a dataset: the JPEG at the
   generator's quality, Pose on the crop padded by ``PERSON_PAD`` pixels, the selfie
   segmenter's mask where Pose finds none. What the regressor needs is cached in ``--data``
   (one ``.npz`` per seed, about 1 MB), so a second run only trains. The seeds must differ
   from the truth benchmark's held-out seed (2121), the tests' (5) and the demo dataset's
   (0).
2. **Augmented features.** ``--copies`` augmented copies of each crop (plus the original):
   crop jitter (scale 0.92-1.08, shift +-4 pixels), landmark noise (1.5 px; 2 cm in the
   world landmarks; visibility +-0.05), landmark dropout (5% each), the whole pose dropped
   (10%: the no-pose path), mask erosion or dilation (1-2 px, 30% each), an occluding band
   across the mask (15%), and the mirror image (half of the copies; left and right swapped,
   lean and facing mirrored).
3. **Training.** ``--members`` multi-layer perceptrons of :mod:`ognet.lift.shape` (inputs ->
   256 -> 256 -> outputs, GELU, dropout 0.1), each on its own augmented copies and
   initialisation: smooth L1 on standardised targets, AdamW (lr 1e-3 with cosine decay,
   weight decay 1e-2), batch 128, ``--epochs`` epochs, one thread, fixed seeds, so the
   same data give the same file. The lifting averages the members (and each crop with its
   mirror image). No model selection: the last epoch ships; the errors on ``--val-seeds``
   (rendered like the training seeds, never trained on) are printed. Tried and left out:
   512 units or dropout 0.3 (no better on the validation seeds).

Cost on the project's shared 2-core machine: rendering + MediaPipe 5-15 crops/s per process
with the load (the 8800 crops of the defaults: 20-40 min with ``--workers 1``), then per
member about 40 s of augmentation and 2-8 min of training.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ognet.lift.shape import (  # noqa: E402
    FIRST_JOINT,
    JOINTS,
    NUM_BETAS,
    NUM_FEATURES,
    SHAPE_REGRESSOR,
    TARGETS,
)

#: Cameras drawn from per seed (1-6 are the datasets'; more give more camera placements).
CAMERAS_PER_SEED = 30


def seed_range(text: str) -> list[int]:
    """``"100-139"`` or ``"100,105"`` -> a list of seeds."""
    seeds = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        seeds += list(range(int(lo), int(hi or lo) + 1))
    return seeds


def truth_targets(joints: np.ndarray, pitch_deg: float, betas: np.ndarray,
                  focal: np.ndarray, principal: np.ndarray, hw=(128, 64)) -> np.ndarray:
    """(len(TARGETS),) regression targets from one crop's truth: betas, pitch, the pelvis ->
    neck line's angles out of and within the image plane, the facing's cos and sin, and the
    joints of :data:`~ognet.lift.shape.JOINTS` in crop units (see
    :class:`~ognet.lift.shape.ShapeEstimate`).

    Args:
        joints: (24, 3) the posed body's joints in the camera frame (x right, y up, z to the
            camera; the camera at the origin); focal, principal: the pinhole's (2,) pixels
            (``RenderTruth``).
    """
    from ognet.lift.fit import J, lean

    h, w = hw
    up = lean(joints)
    lean_out = np.degrees(np.arcsin(np.clip(up[2], -1, 1)))
    lean_in = np.degrees(np.arctan2(up[0], up[1]))
    front = np.cross(joints[J["left_hip"]] - joints[J["right_hip"]], up)
    yaw = np.arctan2(front[0], front[2])
    b = np.zeros(NUM_BETAS, np.float32)
    b[:min(NUM_BETAS, len(betas))] = np.asarray(betas)[:NUM_BETAS]
    chosen = joints[[J[name] for name in JOINTS]].astype(np.float64)
    ahead = -chosen[:, 2]
    u = focal[0] * chosen[:, 0] / ahead + principal[0]
    v = -focal[1] * chosen[:, 1] / ahead + principal[1]
    pelvis = joints[J["pelvis"]]
    toward = (chosen[:, 2] - pelvis[2]) * focal[1] / -pelvis[2]  # pixels at the pelvis' depth
    crop = np.stack([(u - w / 2) / h, (v - h / 2) / h, toward / h], axis=1)
    return np.concatenate([b, [pitch_deg, lean_out, lean_in, np.cos(yaw), np.sin(yaw)],
                           crop.ravel()]).astype(np.float32)


def render_seed(seed: int, identities: int, views: int, synthesizer=None) -> dict:
    """Render one seed's crops with truth and run MediaPipe on each.

    Returns arrays: ``landmarks`` (N, 33, 3), ``world`` (N, 33, 3), ``found`` (N,) bool,
    ``probability`` (N, 128, 64) uint8 (MediaPipe's person mask x 255: the pose model's, or
    without a pose its selfie segmenter's, as the lifting takes it),
    the truth ``joints`` (N, 24, 3) (camera frame), ``pitch`` (N,), ``betas`` (N, 10),
    ``height`` (N,), the pinhole's ``focal`` and ``principal`` (N, 2) pixels, and ``key``
    (N, 4) int (seed, pid, cam, index).
    """
    from ognet.lift.lifter import PERSON_PAD
    from ognet.lift.people import PersonSegmenter
    from ognet.lift.pose import PoseEstimator
    from ognet.synth import Synthesizer

    synth = (synthesizer or Synthesizer)(seed)
    estimator, segmenter = PoseEstimator(), PersonSegmenter()
    rng = np.random.default_rng([seed, 22])
    out = {k: [] for k in ("landmarks", "world", "found", "probability", "joints", "pitch",
                           "betas", "height", "focal", "principal", "key")}
    for pid in range(1, identities + 1):
        for _ in range(views):
            cam = int(rng.integers(1, CAMERAS_PER_SEED + 1))
            index = int(rng.integers(0, 1000))
            truth = synth.render_truth(pid, cam, index)
            crop = as_jpeg(truth.image)
            pose, mask = estimator.estimate(crop, pad=PERSON_PAD)
            found = pose is not None
            if mask is None:  # no pose: the lifting takes the selfie segmenter's mask
                mask = segmenter.mask(crop)
            out["landmarks"].append(pose.image if found else np.zeros((33, 3), np.float32))
            out["world"].append(pose.world if found else np.zeros((33, 3), np.float32))
            out["found"].append(found)
            out["probability"].append(np.round(mask * 255).astype(np.uint8))
            out["joints"].append(truth.joints)
            out["pitch"].append(truth.camera_pitch_deg)
            out["betas"].append(truth.betas)
            out["height"].append(truth.height_m)
            out["focal"].append(truth.focal_px)
            out["principal"].append(truth.principal_px)
            out["key"].append((seed, pid, cam, index))
    return {k: np.asarray(v) for k, v in out.items()}


def as_jpeg(image: np.ndarray) -> np.ndarray:
    """The crop as the datasets store it: JPEG at the generator's quality, decoded."""
    import io

    from PIL import Image

    from ognet.synth.dataset import JPEG_QUALITY

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, "JPEG", quality=JPEG_QUALITY)
    return np.asarray(Image.open(buf).convert("RGB"))


def load_or_render(folder: Path, seeds: list[int], identities: int, views: int,
                   workers: int) -> dict:
    """The crops of ``seeds``, one cached ``seed_S.npz`` per seed in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    todo = [s for s in seeds if not (folder / f"seed_{s}_{identities}x{views}.npz").is_file()]
    if todo:
        t0 = time.time()
        print(f"rendering {len(todo)} seeds x {identities * views} crops ...", flush=True)
        if workers > 1:
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(workers) as pool:
                for s, data in zip(todo, pool.map(render_seed, todo, [identities] * len(todo),
                                                  [views] * len(todo)), strict=True):
                    np.savez_compressed(folder / f"seed_{s}_{identities}x{views}.npz", **data)
        else:
            for s in todo:
                data = render_seed(s, identities, views)
                np.savez_compressed(folder / f"seed_{s}_{identities}x{views}.npz", **data)
                print(f"  seed {s}: {time.time() - t0:.0f} s", flush=True)
    parts = [dict(np.load(folder / f"seed_{s}_{identities}x{views}.npz")) for s in seeds]
    data = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    data["targets"] = np.array([truth_targets(*row) for row in zip(
        data["joints"], data["pitch"], data["betas"], data["focal"], data["principal"],
        strict=True)])
    return data


def augment(data: dict, i: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """One augmented copy of crop ``i``: (features, targets)."""
    from scipy import ndimage

    from ognet.lift.person import person_mask
    from ognet.lift.shape import features, mirror_features, mirror_targets

    h, w = data["probability"].shape[1:]
    image = data["landmarks"][i].copy()
    world = data["world"][i].copy()
    found = bool(data["found"][i])
    target = data["targets"][i].copy()
    mask = person_mask(data["probability"][i] / 255.0)

    scale = rng.uniform(0.92, 1.08)
    shift = rng.uniform(-4, 4, 2)  # (du, dv) pixels
    centre = np.array([w / 2, h / 2])
    image[:, :2] = (image[:, :2] - centre) * scale + centre + shift
    joints = target[FIRST_JOINT:].reshape(-1, 3) * scale
    joints[:, :2] += shift / h
    target[FIRST_JOINT:] = joints.ravel()
    # output pixel p samples input (p - centre - shift) / scale + centre
    mask = ndimage.affine_transform(
        mask.astype(np.float32), np.full(2, 1 / scale),
        offset=(np.array([h / 2, w / 2]) - (np.array([h / 2, w / 2]) + shift[::-1]) / scale),
        order=0) > 0.5
    if rng.random() < 0.3:
        mask = ndimage.binary_erosion(mask, iterations=int(rng.integers(1, 3)))
    elif rng.random() < 0.43:
        mask = ndimage.binary_dilation(mask, iterations=int(rng.integers(1, 3)))
    if rng.random() < 0.15:  # an occluding band (a car, a post, another person)
        if rng.random() < 0.5:
            top = int(rng.integers(h // 2, h - 8))
            mask[top:top + int(rng.integers(8, 40))] = False
        else:
            left = int(rng.integers(0, w - 8))
            mask[:, left:left + int(rng.integers(6, 20))] = False
    if found:
        image[:, :2] += rng.normal(0, 1.5, (33, 2))
        world += rng.normal(0, 0.02, (33, 3))
        image[:, 2] = np.clip(image[:, 2] + rng.normal(0, 0.05, 33), 0, 1)
        drop = rng.random(33) < 0.05
        image[drop] = 0
        world[drop] = 0
        if rng.random() < 0.1:
            found = False
    x = features(image if found else None, world if found else None, mask)
    if rng.random() < 0.5:  # the mirror image
        return mirror_features(x[None])[0], mirror_targets(target[None])[0]
    return x, target


def build_features(data: dict, copies: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The original features of every crop plus ``copies`` augmented copies."""
    from ognet.lift.person import person_mask
    from ognet.lift.shape import features

    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for i in range(len(data["found"])):
        found = bool(data["found"][i])
        xs.append(features(data["landmarks"][i] if found else None,
                           data["world"][i] if found else None,
                           person_mask(data["probability"][i] / 255.0)))
        ys.append(data["targets"][i])
        for _ in range(copies):
            x, y = augment(data, i, rng)
            xs.append(x)
            ys.append(y)
    return np.asarray(xs, np.float32), np.asarray(ys, np.float32)


def train(x: np.ndarray, y: np.ndarray, epochs: int, hidden: int = 256, dropout: float = 0.1,
          seed: int = 0):
    """Fit the MLP (two hidden layers of ``hidden`` units; 512 units or dropout 0.3 gave no
    better validation errors); returns its layers as ``{name: array}`` with the
    standardisation."""
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(seed)
    x_mean, x_std = x.mean(0), x.std(0) + 1e-3
    y_mean, y_std = y.mean(0), y.std(0) + 1e-6
    net = torch.nn.Sequential(
        torch.nn.Linear(NUM_FEATURES, hidden), torch.nn.GELU(approximate="tanh"),
        torch.nn.Dropout(dropout), torch.nn.Linear(hidden, hidden),
        torch.nn.GELU(approximate="tanh"), torch.nn.Dropout(dropout),
        torch.nn.Linear(hidden, len(TARGETS)))
    xt = torch.from_numpy((x - x_mean) / x_std)
    yt = torch.from_numpy((y - y_mean) / y_std)
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-2)
    steps = epochs * ((len(xt) + 127) // 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    gen = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        net.train()
        order = torch.randperm(len(xt), generator=gen)
        total = 0.0
        for b in range(0, len(xt), 128):
            idx = order[b:b + 128]
            loss = torch.nn.functional.smooth_l1_loss(net(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if epoch % 10 == 9 or epoch == epochs - 1:
            print(f"  epoch {epoch + 1}: loss {total / len(xt):.4f}", flush=True)
    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    tensors = {"x_mean": x_mean, "x_std": x_std, "y_mean": y_mean, "y_std": y_std}
    for i, m in enumerate(linears):
        tensors[f"l{i}.weight"] = m.weight.detach().numpy().copy()
        tensors[f"l{i}.bias"] = m.bias.detach().numpy().copy()
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in tensors.items()}


def stored(members: list[dict]) -> dict:
    """The ensemble as the file holds it: member ``k``'s arrays under ``m{k}.``; the layers
    in float16 (half the size; the outputs move by under 1e-3 of their spread), the
    standardisation in float32."""
    out = {}
    for k, tensors in enumerate(members):
        for name, value in tensors.items():
            out[f"m{k}.{name}"] = value.astype(np.float16 if name[0] == "l" else np.float32)
    return out


def errors(predicted: np.ndarray, truth: np.ndarray, found: np.ndarray) -> dict[str, float]:
    """Median absolute errors of the pitch, the joints, the leans, the facing and the betas."""
    err = np.abs(predicted - truth)
    yaw_p = np.arctan2(predicted[:, NUM_BETAS + 4], predicted[:, NUM_BETAS + 3])
    yaw_t = np.arctan2(truth[:, NUM_BETAS + 4], truth[:, NUM_BETAS + 3])
    yaw = np.degrees(np.abs(np.angle(np.exp(1j * (yaw_p - yaw_t)))))
    joints = err[:, FIRST_JOINT:].reshape(len(err), -1, 3) * 128  # pixels
    return {"pitch_deg": float(np.median(err[:, NUM_BETAS])),
            "joint_z_px": float(np.median(joints[..., 2])),
            "joint_uv_px": float(np.median(joints[..., :2])),
            "lean_out_deg": float(np.median(err[:, NUM_BETAS + 1])),
            "lean_out_deg_with_pose": float(np.median(err[found, NUM_BETAS + 1])),
            "lean_in_deg": float(np.median(err[:, NUM_BETAS + 2])),
            "yaw_deg": float(np.median(yaw)), "yaw_over_90": float((yaw > 90).mean()),
            "betas_mae": float(err[:, :NUM_BETAS].mean()),
            "betas_mae_of_zero": float(np.abs(truth[:, :NUM_BETAS]).mean())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="100-139", help="training seeds of the generator")
    parser.add_argument("--val-seeds", default="140-143", help="seeds only reported on")
    parser.add_argument("--identities", type=int, default=50, help="people per seed")
    parser.add_argument("--views", type=int, default=4, help="crops per person")
    parser.add_argument("--copies", type=int, default=4, help="augmented copies per crop")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--members", type=int, default=3,
                        help="networks in the ensemble (each its own augmentation and init)")
    parser.add_argument("--workers", type=int, default=1, help="rendering processes")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "shape_regressor")
    parser.add_argument("--out", type=Path, default=SHAPE_REGRESSOR)
    args = parser.parse_args(argv)

    from safetensors.numpy import save_file

    from ognet.lift.shape import ShapeRegressor

    train_seeds, val_seeds = seed_range(args.seeds), seed_range(args.val_seeds)
    if set(train_seeds) & set(val_seeds):
        parser.error("--seeds and --val-seeds overlap")
    data = load_or_render(args.data, train_seeds, args.identities, args.views, args.workers)
    val = load_or_render(args.data, val_seeds, args.identities, args.views, args.workers)
    members = []
    for k in range(args.members):
        t0 = time.time()
        x, y = build_features(data, args.copies, seed=k)
        print(f"member {k}: {len(data['found'])} crops ({data['found'].mean():.0%} with a "
              f"pose) -> {len(x)} examples in {time.time() - t0:.0f} s", flush=True)
        t0 = time.time()
        members.append(train(x, y, args.epochs, seed=k))
        print(f"  trained in {time.time() - t0:.0f} s", flush=True)
    tensors = stored(members)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # One metadata entry: safetensors writes several in no fixed order, and the same data
    # must give the same bytes.
    config = {"seeds": args.seeds, "val_seeds": args.val_seeds, "identities": args.identities,
              "views": args.views, "copies": args.copies, "epochs": args.epochs,
              "members": args.members, "targets": TARGETS}
    meta = {"ognet_shape_regressor": json.dumps(config, sort_keys=True)}
    save_file(tensors, str(args.out), metadata=meta)

    regressor = ShapeRegressor(args.out)
    xv, yv = build_features(val, 0, seed=1)
    report = errors(regressor.predict(xv), yv, val["found"])
    print(f"validation ({len(yv)} crops of seeds {args.val_seeds}): "
          + ", ".join(f"{k} {v:.3f}" for k, v in report.items()))
    print(f"wrote {args.out} ({args.out.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
