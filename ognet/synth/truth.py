"""What a synthetic crop really shows: :class:`RenderTruth`, and its small file.

``Synthesizer(seed).render_truth(pid, cam, index)`` returns the crop of ``render`` together
with the truth the renderer knows. Frames and units:

* **camera frame**: metres, origin at the camera's centre, x to the image's right, y up in the
  image, z towards the camera (so everything in view has z < 0; ``-z`` is the depth along the
  optical axis). The camera looks down at ``camera_pitch_deg`` (positive: down) at the
  person's middle.
* **pixels**: ``(u, v)`` = (column, row) of the 128x64 crop, continuous, the centre of pixel
  ``(r, c)`` at ``(c + 0.5, r + 0.5)``. The crop is a detector's box, not centred on the
  optical axis, and its pixels are not square (a box of aspect about 2:1 resized to 128x64),
  so the pinhole has two focal lengths and a principal point off the crop::

      u = focal_px[0] * x / -z + principal_px[0]
      v = -focal_px[1] * y / -z + principal_px[1]

The renderer casts 2x2 rays per pixel. A pixel is the person's (``mask``) when at least two
of its four rays hit the body or the bag (clothes and hair are painted on the body, so they
are included); its ``depth`` is the mean depth of those hits.

``save_truth`` writes one file per crop: a NumPy ``.npz`` archive (compressed) with the
suffix ``.truth`` (dataset loaders read ``.npz`` files as point clouds, and skip this one),
holding every field of :class:`RenderTruth` except the image (the JPEG beside it), plus
``pid``, ``cam``, ``index``, ``seed``. ``load_truth`` reads it back (the image is ``None``).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

#: The suffix of a truth file written beside a crop (``0001_c1s1_000123_01.truth``).
TRUTH_SUFFIX = ".truth"


@dataclass
class RenderTruth:
    """One synthetic crop and what is really in it.

    Attributes:
        image: (H, W, 3) uint8, the crop (byte-identical to ``Synthesizer.render``); None when
            read from a file.
        mask: (H, W) bool, the person's pixels (body, clothes, hair, bag).
        depth: (H, W) float32, metres along the optical axis on the person, NaN elsewhere.
        joints: (24, 3) float32, the posed body's joints in SMPL order
            (``ognet.body.SMPL_JOINT_NAMES``), camera frame (metres).
        height_m: the body's standing height (metres; its rest mesh's vertical extent).
        camera_pitch_deg: the camera's pitch below the horizon (positive: looking down).
        betas: (10,) float32, the body's shape parameters (``ognet.body.load_body_model``).
        global_orient: (3,) float32 axis-angle of the body's root in the camera frame (the
            rest body faces +z); body_pose: (69,) float32, SMPL's joint rotations.
        focal_px: (2,) float32 pixels per unit of ``x / -z`` across and ``y / -z`` down;
        principal_px: (2,) float32 the optical axis in crop pixels (see the module doc).
        pid, cam, index, seed: which crop of which world.
    """

    image: np.ndarray | None
    mask: np.ndarray
    depth: np.ndarray
    joints: np.ndarray
    height_m: float
    camera_pitch_deg: float
    betas: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    focal_px: np.ndarray
    principal_px: np.ndarray
    pid: int
    cam: int
    index: int
    seed: int

    def project(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) camera-frame points -> (N, 2) crop pixels ``(u, v)``."""
        points = np.asarray(points, dtype=np.float64)
        ahead = -points[:, 2]
        u = self.focal_px[0] * points[:, 0] / ahead + self.principal_px[0]
        v = -self.focal_px[1] * points[:, 1] / ahead + self.principal_px[1]
        return np.stack([u, v], axis=1)


def person_truth(t_hit: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Supersampled ray hits -> the crop's person mask and depth.

    Args:
        t_hit: (s H, s W) float32, each ray's depth along the optical axis where it hit the
            person, inf where it missed (the rays are ``right * a + up * b + forward``, so the
            ray parameter is the depth).
        hw: the crop (H, W).

    Returns:
        mask (H, W) bool: at least half of a pixel's rays hit; depth (H, W) float32: their
        mean depth there, NaN elsewhere.
    """
    H, W = hw
    s = t_hit.shape[0] // H
    hit = np.isfinite(t_hit).reshape(H, s, W, s)
    count = hit.sum(axis=(1, 3))
    total = np.where(hit, t_hit.reshape(H, s, W, s), 0.0).sum(axis=(1, 3))
    mask = 2 * count >= s * s
    with np.errstate(invalid="ignore", divide="ignore"):
        depth = np.where(mask, total / count, np.nan).astype(np.float32)
    return mask, depth


def save_truth(truth: RenderTruth, path: str | Path) -> None:
    """Write ``truth`` (all but the image) to ``path`` (see the module doc)."""
    arrays = {f.name: np.asarray(getattr(truth, f.name)) for f in fields(RenderTruth)
              if f.name != "image"}
    with open(path, "wb") as f:  # a file object: NumPy adds no ".npz" to the name
        np.savez_compressed(f, **arrays)


def load_truth(path: str | Path) -> RenderTruth:
    """Read a file written by :func:`save_truth` (``image`` is None)."""
    with np.load(path, allow_pickle=False) as data:
        values = {k: data[k] for k in data.files}
    for name in ("height_m", "camera_pitch_deg"):
        values[name] = float(values[name])
    for name in ("pid", "cam", "index", "seed"):
        values[name] = int(values[name])
    return RenderTruth(image=None, **values)
