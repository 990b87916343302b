"""Pack a prepared (lifted) dataset into one compressed file, and unpack it elsewhere.

    python scripts/pack_prepared.py pack --src data/study/clouds --out pack.npz \
        [--splits bounding_box_train]
    python scripts/pack_prepared.py unpack --src pack.npz --dst /tmp/clouds

Moves a prepared Market-1501-format tree (``python -m ognet prepare``: one ``.npz`` per image,
:func:`ognet.pointcloud.save_cloud`) to a machine that cannot lift (the lent GPU machine has
no MediaPipe, Open3D or smplx) inside a small transfer limit. The points are stored as in the
prepared files (float16 xyz + rgb), the person masks as packed bits, the lifting method per
cloud, all in one ``np.savez_compressed`` archive; unpacking writes the same tree back with
``save_cloud``, so training reads it as it reads the original (the points are bit-identical).
"""

from __future__ import annotations

import argparse
import lzma
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from ognet.pointcloud import load_cloud, save_cloud  # noqa: E402


def pack(src: Path, out: Path, splits: list[str]) -> int:
    names, points, masks, methods = [], [], [], []
    files = sorted(p for split in splits for p in (src / split).glob("*.npz"))
    if not files:
        raise SystemExit(f"no prepared clouds in {src} / {splits}")
    for path in tqdm(files, desc="packing"):
        cloud = load_cloud(path)
        names.append(str(path.relative_to(src)))
        points.append(cloud["points"].astype(np.float16))
        mask = cloud["mask"] if cloud["mask"] is not None else np.zeros((128, 64), bool)
        masks.append(mask)
        methods.append(cloud["method"])
    shapes = {p.shape for p in points}
    if len(shapes) != 1:
        raise SystemExit(f"clouds differ in shape: {sorted(shapes)}")
    points, masks = np.stack(points), np.stack(masks)
    rgb = np.round(points[..., 3:].astype(np.float32) * 255).astype(np.uint8)
    if not np.array_equal((rgb / 255).astype(np.float16), points[..., 3:]):
        raise SystemExit("colours are not k / 255 in float16: cannot pack them as uint8")
    np.savez(out, names=np.array(names), shape=np.array(points.shape),
             xyz=_squeeze(_planes(points[..., :3])), rgb=_squeeze(rgb.transpose(0, 2, 1)),
             masks=np.packbits(masks, axis=-1), mask_shape=np.array(masks.shape),
             methods=np.array(methods))
    return len(files)


def _planes(xyz: np.ndarray) -> np.ndarray:
    """(n, N, 3) float16 -> (n, 3, 2, N) bytes: each axis's low and high bytes apart."""
    return xyz.view(np.uint8).reshape(*xyz.shape, 2).transpose(0, 2, 3, 1)


def _squeeze(array: np.ndarray) -> np.ndarray:
    return np.frombuffer(lzma.compress(np.ascontiguousarray(array).tobytes()), np.uint8)


def _unsqueeze(blob: np.ndarray, shape: tuple) -> np.ndarray:
    return np.frombuffer(lzma.decompress(blob.tobytes()), np.uint8).reshape(shape)


def unpack(src: Path, dst: Path) -> int:
    with np.load(src, allow_pickle=False) as data:
        n, size, _ = (int(s) for s in data["shape"])
        planes = _unsqueeze(data["xyz"], (n, 3, 2, size))
        xyz = np.ascontiguousarray(planes.transpose(0, 3, 1, 2)).view(np.float16)[..., 0]
        rgb = _unsqueeze(data["rgb"], (n, 3, size)).transpose(0, 2, 1)
        points = np.concatenate([xyz, (rgb / 255).astype(np.float16)], axis=-1)
        shape = tuple(int(s) for s in data["mask_shape"])
        masks = np.unpackbits(data["masks"], axis=-1, count=shape[-1]).astype(bool)
        for name, cloud, mask, method in tqdm(zip(data["names"], points, masks,
                                                   data["methods"], strict=True),
                                               total=len(masks), desc="unpacking"):
            save_cloud(dst / str(name), cloud, mask, str(method))
    return len(masks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--src", type=Path, required=True, help="prepared dataset root")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--splits", nargs="+", default=["bounding_box_train"])
    u = sub.add_parser("unpack")
    u.add_argument("--src", type=Path, required=True)
    u.add_argument("--dst", type=Path, required=True)
    args = parser.parse_args()
    if args.command == "pack":
        n = pack(args.src, args.out, args.splits)
        print(f"{n} clouds -> {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB)")
    else:
        print(f"{unpack(args.src, args.dst)} clouds -> {args.dst}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
