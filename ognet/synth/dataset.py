"""``generate_dataset``: a synthetic Market-1501-format re-id dataset, reproducible from a seed.

Layout and names as Market-1501: ``bounding_box_train/``, ``bounding_box_test/``, ``query/``
holding ``PPPP_cCsS_FFFFFF_NN.jpg`` (4-digit identity from 0001, camera 1-6, sequence 1, a
6-digit frame, box index 01), 128x64 JPEG at a fixed quality with no metadata.

Identities ``1 .. ceil(N/2)`` train, the others test (disjoint). Every identity is seen by
2-6 cameras, a few images each. Each test identity has one query per camera for up to three
of its cameras, never all of them, so every query has gallery matches from another camera;
the rest of its images are the gallery. The plan comes from ``SeedSequence([seed, 3])`` and
each image from its own key (see :class:`ognet.synth.render.Synthesizer`), so a seed gives
byte-identical files whatever the number of worker processes.

With ``truth=True`` every image gets its ground truth beside it
(``PPPP_cCsS_FFFFFF_NN.truth``, see :mod:`ognet.synth.truth`); dataset loaders skip it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ognet.synth.render import Synthesizer
from ognet.synth.scene import NUM_CAMERAS
from ognet.synth.truth import TRUTH_SUFFIX, save_truth

SPLITS = ("bounding_box_train", "bounding_box_test", "query")
JPEG_QUALITY = 92
#: The Market-1501 file name: pid, camera, sequence, frame, box index.
NAME_RE = re.compile(r"^(\d{4})_c(\d)s(\d)_(\d{6})_(\d{2})\.jpg$")


@dataclass(frozen=True)
class PlannedImage:
    """One image of the dataset: who, which camera, which take, and where it goes."""

    pid: int
    cam: int
    index: int
    split: str
    frame: int

    @property
    def name(self) -> str:
        return f"{self.pid:04d}_c{self.cam}s1_{self.frame:06d}_01.jpg"


def _range(value) -> tuple[int, int]:
    if isinstance(value, int):
        return value, value
    lo, hi = value
    return int(lo), int(hi)


def plan_dataset(identities: int, seed: int, images_per_camera=(2, 4),
                 cameras_per_identity=(2, NUM_CAMERAS), queries_per_identity: int = 3
                 ) -> list[PlannedImage]:
    """Which images the dataset holds (no rendering).

    Args:
        identities: number of people (at least 2: one trains, one tests).
        seed: the world's seed.
        images_per_camera: images per (identity, camera), an int or an inclusive (lo, hi).
        cameras_per_identity: cameras that see each identity, an int or (lo, hi), in 2..6.
        queries_per_identity: most queries of a test identity (one per camera).
    """
    if identities < 2:
        raise ValueError("need at least 2 identities (one to train, one to test)")
    ilo, ihi = _range(images_per_camera)
    clo, chi = _range(cameras_per_identity)
    if not 1 <= ilo <= ihi:
        raise ValueError(f"images per camera must be >= 1, got {images_per_camera}")
    if not 2 <= clo <= chi <= NUM_CAMERAS:
        raise ValueError(f"cameras per identity must be within 2..{NUM_CAMERAS}")
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, 3])))
    n_train = (identities + 1) // 2
    frames = np.zeros(NUM_CAMERAS + 1, dtype=np.int64)
    plan = []
    for pid in range(1, identities + 1):
        n_cams = int(rng.integers(clo, chi + 1))
        cams = np.sort(rng.choice(np.arange(1, NUM_CAMERAS + 1), n_cams, replace=False))
        n_query = min(queries_per_identity, n_cams - 1)
        query_cams = set(rng.choice(cams, n_query, replace=False).tolist())
        for cam in cams.tolist():
            for k in range(int(rng.integers(ilo, ihi + 1))):
                frames[cam] += int(rng.integers(20, 400))
                if pid <= n_train:
                    split = "bounding_box_train"
                elif k == 0 and cam in query_cams:
                    split = "query"
                else:
                    split = "bounding_box_test"
                plan.append(PlannedImage(pid, cam, k, split, int(frames[cam])))
    return plan


def save_jpeg(image: np.ndarray, path: str | Path) -> None:
    """Write (H, W, 3) uint8 RGB as a JPEG at :data:`JPEG_QUALITY` (no metadata)."""
    Image.fromarray(image, "RGB").save(path, format="JPEG", quality=JPEG_QUALITY)


_WORKER: dict = {}


def _write(synth: Synthesizer, item: PlannedImage, out: Path, truth: bool) -> None:
    """Render ``item`` into ``out``: its JPEG, and with ``truth`` its ``.truth`` file."""
    path = out / item.split / item.name
    if truth:
        rendered = synth.render_truth(item.pid, item.cam, item.index)
        save_jpeg(rendered.image, path)
        save_truth(rendered, path.with_suffix(TRUTH_SUFFIX))
    else:
        save_jpeg(synth.render(item.pid, item.cam, item.index), path)


def _init_worker(seed: int, out: str, truth: bool) -> None:
    import torch

    torch.set_num_threads(1)
    _WORKER.update(synth=Synthesizer(seed), out=Path(out), truth=truth)


def _render_one(item: PlannedImage) -> str:
    _write(_WORKER["synth"], item, _WORKER["out"], _WORKER["truth"])
    return item.split


def generate_dataset(out: str | Path, identities: int, seed: int = 0,
                     images_per_camera=(2, 4), cameras_per_identity=(2, NUM_CAMERAS),
                     queries_per_identity: int = 3, workers: int = 0,
                     progress: bool = True, truth: bool = False) -> dict[str, int]:
    """Render the dataset under ``out``; returns the number of images per split.

    Args:
        out: the dataset folder (``bounding_box_train/`` ... are made inside).
        identities, seed, images_per_camera, cameras_per_identity, queries_per_identity:
            see :func:`plan_dataset`.
        workers: processes that render (0: this one).
        progress: show a tqdm bar.
        truth: also write each crop's truth beside it (``NAME.truth``, see
            :mod:`ognet.synth.truth`); the images are the same bytes either way.
    """
    from tqdm import tqdm

    out = Path(out)
    plan = plan_dataset(identities, seed, images_per_camera, cameras_per_identity,
                        queries_per_identity)
    for split in SPLITS:
        (out / split).mkdir(parents=True, exist_ok=True)
    counts = dict.fromkeys(SPLITS, 0)
    bar = tqdm(total=len(plan), unit="img", desc="synth", disable=not progress)
    if workers > 0:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(workers, _init_worker,
                                          (seed, str(out), truth)) as pool:
            for split in pool.imap(_render_one, plan, chunksize=8):
                counts[split] += 1
                bar.update()
    else:
        synth = Synthesizer(seed)
        for item in plan:
            _write(synth, item, out, truth)
            counts[item.split] += 1
            bar.update()
    bar.close()
    return counts
