"""``generate_dataset``: a synthetic Market-1501-format re-id dataset, reproducible from a seed.

Half of the identities train (``bounding_box_train``), half test: for each test identity one
image per camera goes to ``query`` and the rest to ``bounding_box_test``. Every identity is
seen by at least two cameras, so every query has matches from other cameras.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from ognet.body import load_body_model, vertex_parts
from ognet.synth.people import dress, sample_identity
from ognet.synth.render import render_person, sample_camera

NUM_CAMERAS = 6


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, *keys]))


def generate_dataset(out: str | Path, identities: int, seed: int = 0,
                     cameras_per_identity: int = 3, images_per_camera: int = 3,
                     progress: bool = True) -> dict[str, int]:
    """Write the dataset under ``out``; returns the number of images per split.

    Each image draws its own random numbers from ``(seed, pid, image)``, so a dataset is
    byte-identical for a seed whatever the order of generation.
    """
    if identities < 2:
        raise ValueError("need at least 2 identities (one to train, one to test)")
    if not 2 <= cameras_per_identity <= NUM_CAMERAS:
        raise ValueError(f"cameras_per_identity must be in 2..{NUM_CAMERAS}")
    out = Path(out)
    body = load_body_model()
    rest = body().vertices[0].detach().numpy()
    parts = vertex_parts(body)
    cameras = [sample_camera(_rng(seed, 0, c)) for c in range(NUM_CAMERAS)]
    n_train = identities // 2
    counts = {"bounding_box_train": 0, "bounding_box_test": 0, "query": 0}
    for split in counts:
        (out / split).mkdir(parents=True, exist_ok=True)
    total = identities * cameras_per_identity * images_per_camera
    bar = tqdm(total=total, unit="img", desc="rendering", disable=not progress)
    for pid in range(1, identities + 1):
        rng = _rng(seed, 1, pid)
        person = sample_identity(pid, rng)
        albedo = dress(person, rest, parts)
        cams = np.sort(rng.choice(NUM_CAMERAS, cameras_per_identity, replace=False))
        frame = 0
        for cam in cams:
            for k in range(images_per_camera):
                img = render_person(body, albedo, person.betas, cameras[cam],
                                    _rng(seed, 2, pid, int(cam), k))
                if pid <= n_train:
                    split = "bounding_box_train"
                else:
                    split = "query" if k == 0 else "bounding_box_test"
                name = f"{pid:04d}_c{cam + 1}s1_{frame:06d}_00.jpg"
                Image.fromarray(img).save(out / split / name, quality=92)
                counts[split] += 1
                frame += 1
                bar.update()
    bar.close()
    return counts
