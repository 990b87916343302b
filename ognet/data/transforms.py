"""Point-cloud augmentations of the authors' training (``market3d.py``), as pure functions on
``(N, 6)`` float32 arrays.

Training applies, in order: a random scale of each axis on its own (``U(0.75, 1.33)`` per
axis, so a person also gets wider, taller or deeper relative to the other axes), zero-mean
Gaussian jitter of the positions (sigma 0.01 m clipped at 0.01 m) and, with probability 0.5,
a horizontal flip (mirror x: the person-centred frame has x to the image's right, so
mirroring x is the 3D analogue of flipping the photo). Colors are never changed. ``z_zero``
is the 2D control of Table I ("2D image"): depth set to 0.

``AugmentConfig(isotropic=True)`` is a named difference from the authors, for study: one
factor for all three axes. The per-axis draw changes a person's proportions (the height to
width ratio moves by up to a factor 1.77, depth to width likewise), which erases the build
and the relief that the lifting measures; the isotropic draw keeps every ratio and only
changes the size, which a lifted crop (no absolute scale) does not know anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class AugmentConfig:
    """Parameters of :func:`augment` (the defaults are the authors').

    Attributes:
        scale: ``(low, high)`` of the uniform scale factor, drawn for x, y and z separately.
        jitter_sigma: standard deviation (metres) of the Gaussian position noise.
        jitter_clip: the noise is clipped to ``[-clip, clip]``.
        flip_prob: probability of mirroring x.
        isotropic: one scale factor for x, y and z (not the authors': see the module).
    """

    scale: tuple[float, float] = (0.75, 1.33)
    jitter_sigma: float = 0.01
    jitter_clip: float = 0.01
    flip_prob: float = 0.5
    isotropic: bool = False


def random_scale(points: np.ndarray, low: float, high: float,
                 rng: np.random.Generator, isotropic: bool = False) -> np.ndarray:
    """Scale x, y and z of (N, 6) ``points`` by three factors drawn independently from
    U(low, high) (``isotropic``: one factor for all three); returns (N, 6)."""
    out = points.copy()
    factors = rng.uniform(low, high, size=1 if isotropic else 3)
    out[:, :3] *= factors.astype(points.dtype)
    return out


def jitter(points: np.ndarray, sigma: float, clip: float,
           rng: np.random.Generator) -> np.ndarray:
    """Add clipped N(0, sigma^2) noise to xyz of (N, 6) ``points``; returns (N, 6)."""
    out = points.copy()
    noise = rng.normal(0.0, sigma, size=(len(points), 3)).astype(points.dtype)
    out[:, :3] += np.clip(noise, -clip, clip)
    return out


def mirror_x(points: np.ndarray) -> np.ndarray:
    """Horizontal flip of (N, 6) ``points``: x -> -x (colors and order unchanged)."""
    out = points.copy()
    out[:, 0] = -out[:, 0]
    return out


def z_zero(points: np.ndarray) -> np.ndarray:
    """The 2D control: (N, 6) ``points`` with z set to 0."""
    out = points.copy()
    out[:, 2] = 0.0
    return out


def augment(points: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Scale each axis, jitter and maybe mirror (N, 6) ``points``; returns a new (N, 6) float32
    array."""
    out = random_scale(points, *config.scale, rng=rng, isotropic=config.isotropic)
    if config.jitter_sigma > 0:
        out = jitter(out, config.jitter_sigma, config.jitter_clip, rng)
    if rng.random() < config.flip_prob:
        out = mirror_x(out)
    return out.astype(np.float32, copy=False)
