"""Synthetic people: an identity (shape, skin, hair, outfit) and its per-vertex colours."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ognet.body import PART_NAMES

SKIN_TONES = np.array([[0.96, 0.80, 0.69], [0.90, 0.70, 0.55], [0.78, 0.57, 0.42],
                       [0.62, 0.43, 0.30], [0.45, 0.30, 0.20], [0.33, 0.22, 0.15]])
HAIR_COLOURS = np.array([[0.05, 0.04, 0.03], [0.20, 0.12, 0.06], [0.45, 0.30, 0.15],
                         [0.75, 0.60, 0.35], [0.55, 0.55, 0.55], [0.40, 0.10, 0.05]])
GARMENT_COLOURS = np.array([
    [0.85, 0.10, 0.10], [0.10, 0.25, 0.70], [0.95, 0.95, 0.95], [0.08, 0.08, 0.10],
    [0.20, 0.55, 0.20], [0.95, 0.80, 0.10], [0.55, 0.20, 0.60], [0.95, 0.50, 0.10],
    [0.45, 0.45, 0.48], [0.15, 0.20, 0.35], [0.55, 0.35, 0.20], [0.40, 0.75, 0.90],
    [0.90, 0.55, 0.65], [0.75, 0.70, 0.55], [0.25, 0.40, 0.30], [0.70, 0.05, 0.25],
])
PATTERNS = ("plain", "stripes", "two_tone", "logo")


@dataclass
class Identity:
    """What makes one synthetic person recognisable."""

    pid: int
    betas: np.ndarray  # (10,)
    skin: np.ndarray  # (3,) rgb in [0, 1]
    hair: np.ndarray
    upper: np.ndarray
    upper_second: np.ndarray  # stripes / second tone / logo colour
    pattern: str
    long_sleeves: bool
    lower: np.ndarray
    trousers: bool
    shoes: np.ndarray
    bag: np.ndarray | None  # colour of a backpack patch, or None


def _colour(rng: np.random.Generator) -> np.ndarray:
    base = GARMENT_COLOURS[rng.integers(len(GARMENT_COLOURS))]
    return np.clip(base + rng.normal(0, 0.06, 3), 0, 1)


def sample_identity(pid: int, rng: np.random.Generator) -> Identity:
    """Draw an identity: adult shape (betas ~ N(0, 0.8^2)), skin, hair and an outfit."""
    return Identity(
        pid=pid,
        betas=np.concatenate([rng.normal(0, 0.8, 4), np.zeros(6)]).astype(np.float32),
        skin=SKIN_TONES[rng.integers(len(SKIN_TONES))],
        hair=HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))],
        upper=_colour(rng), upper_second=_colour(rng),
        pattern=PATTERNS[rng.integers(len(PATTERNS))], long_sleeves=bool(rng.random() < 0.5),
        lower=_colour(rng), trousers=bool(rng.random() < 0.7),
        shoes=np.clip(GARMENT_COLOURS[rng.integers(len(GARMENT_COLOURS))] * 0.6, 0, 1),
        bag=_colour(rng) * 0.8 if rng.random() < 0.4 else None,
    )


def dress(identity: Identity, rest_vertices: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """Per-vertex albedo (V, 3) of ``identity`` from the rest mesh (V, 3) and body parts (V,)."""
    P = {name: i for i, name in enumerate(PART_NAMES)}
    x, y, z = rest_vertices.T
    colours = np.tile(identity.skin, (len(x), 1))

    head = parts == P["head"]
    head_top = y[head].max()
    head_z = z[head].mean()
    hair = head & ((y > head_top - 0.07) | ((z < head_z - 0.02) & (y > head_top - 0.2)))
    colours[hair] = identity.hair

    torso = parts == P["torso"]
    upper_arm = parts == P["upper_arms"]
    lower_arm = parts == P["lower_arms"]
    sleeves = torso | upper_arm | (lower_arm if identity.long_sleeves else np.zeros_like(torso))
    colours[sleeves] = identity.upper
    if identity.pattern == "stripes":
        colours[sleeves & (np.sin(y * 55) > 0.3)] = identity.upper_second
    elif identity.pattern == "two_tone":
        colours[sleeves & (x > 0)] = identity.upper_second
    elif identity.pattern == "logo":
        chest = torso & (z > np.percentile(z[torso], 70)) & (np.abs(x) < 0.08)
        chest &= (y > np.percentile(y[torso], 55)) & (y < np.percentile(y[torso], 85))
        colours[chest] = identity.upper_second

    legs = parts == P["upper_legs"]
    if identity.trousers:
        legs = legs | (parts == P["lower_legs"])
    # The lower garment also covers the hips (the lower part of the torso).
    hips = torso & (y < np.percentile(y[torso], 22))
    colours[legs | hips] = identity.lower
    colours[parts == P["feet"]] = identity.shoes
    if identity.bag is not None:
        back = torso & (z < np.percentile(z[torso], 25))
        back &= (y > np.percentile(y[torso], 35)) & (y < np.percentile(y[torso], 90))
        colours[back] = identity.bag
    return colours.astype(np.float32)
