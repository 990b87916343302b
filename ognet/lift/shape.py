"""The person's build, the camera's pitch and the 3D pose from one crop: a small regressor.

A single 128x64 crop gives no absolute size, but it does show proportions (how wide the
shoulders, hips and waist are for the body's length) and, through perspective, how steeply
the camera looks down: a camera looking down foreshortens the body's length, shows the top
of the head and shoulders, and puts the farther foot higher in the image than the nearer
one. MediaPipe's world landmarks see some of this too (they lean about 10 degrees towards
the camera when a synthetic camera looks down 26). :class:`ShapeRegressor` reads these cues
from a *proxy representation* of the crop, as STRAPS (Sengupta et al., BMVC 2020) does:
MediaPipe's 2D and world landmarks and the person's silhouette, never the pixels, so that
what it learnt on the generator's renders carries over to real photos (the landmarks and
the mask look alike on both; the textures do not). Like a 2D-to-3D pose lifter (Martinez et
al., ICCV 2017) it also gives the body's joints in 3D, in the camera's frame.

Input (:func:`features`, :data:`NUM_FEATURES` = 839 numbers):

- 33 landmarks: x, y in crop units (``(u - W/2) / H``, ``(v - H/2) / H``) and visibility;
- 33 world landmarks (metres, y up, z towards the camera, origin between the hips);
- 1 flag: the pose was found (without a pose the landmarks are zeros);
- the silhouette, the person mask averaged over 4x4 pixel cells (32x16);
- the silhouette's width on each of the 128 rows (in crop heights).

Output (:data:`TARGETS`, 66 numbers): the 10 shape parameters of the body model, the
camera's pitch (degrees, positive looking down), the lean of the body's pelvis -> neck line
out of the image plane (degrees, positive towards the camera) and within it (degrees from
the image's up, positive to the image's right), the body's facing (cos and sin of its yaw in
the camera frame; yaw 0 faces the camera, positive turns the body's front to the image's
right, as a rotation about the up axis does), and the 17 joints of :data:`JOINTS` in crop
units: where they project and their depth towards the camera relative to the pelvis (see
:class:`ShapeEstimate`).

The regressor is an ensemble of three multi-layer perceptrons (839 -> 256 -> 256 -> 66,
GELU), averaged, each crop also read mirrored (:meth:`ShapeRegressor.predict`); weights and
standardisation in ``assets/lift/shape_regressor.safetensors`` (float16 weights, 1.8 MB),
trained by ``scripts/train_shape_regressor.py`` on 8000 of the generator's renders with
truth, MediaPipe run on each, with heavy augmentation of the landmarks and the silhouette.
Inference is NumPy: 18 small matrix products, about a millisecond.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ognet.assets import ASSETS_DIR
from ognet.lift.fit import TARGETS as FIT_TARGETS

#: The shipped regressor (rebuilt by ``scripts/train_shape_regressor.py``).
SHAPE_REGRESSOR = ASSETS_DIR / "lift" / "shape_regressor.safetensors"
#: Silhouette cells (rows, columns): the 128x64 mask averaged over 4x4 pixels.
SILHOUETTE_HW = (32, 16)
NUM_LANDMARKS = 33
#: Rows of the crop (the silhouette's width is read on each).
CROP_HEIGHT = 128
NUM_BETAS = 10
#: The joints whose 3D position the regressor estimates: those the inverse kinematics
#: aims at (``ognet.lift.fit.TARGETS``), SMPL's.
JOINTS = tuple(FIT_TARGETS)
#: The regressor's outputs, in order.
TARGETS = tuple(f"beta{i}" for i in range(NUM_BETAS)) + (
    "pitch_deg", "lean_out_deg", "lean_in_deg", "yaw_cos", "yaw_sin") + tuple(
    f"{joint}_{axis}" for joint in JOINTS for axis in "xyz")
#: Index of the first joint coordinate in :data:`TARGETS`.
FIRST_JOINT = NUM_BETAS + 5
#: Where each part of the input lies in :func:`features`' vector.
IMAGE_PART = slice(0, NUM_LANDMARKS * 3)
WORLD_PART = slice(IMAGE_PART.stop, IMAGE_PART.stop + NUM_LANDMARKS * 3)
FOUND_PART = slice(WORLD_PART.stop, WORLD_PART.stop + 1)
CELLS_PART = slice(FOUND_PART.stop, FOUND_PART.stop + SILHOUETTE_HW[0] * SILHOUETTE_HW[1])
ROWS_PART = slice(CELLS_PART.stop, CELLS_PART.stop + CROP_HEIGHT)
NUM_FEATURES = ROWS_PART.stop


def features(landmarks_2d: np.ndarray | None, landmarks_3d: np.ndarray | None,
             silhouette: np.ndarray) -> np.ndarray:
    """The regressor's input for one crop.

    Args:
        landmarks_2d: (33, 3) x, y in crop pixels and visibility, or None (no pose).
        landmarks_3d: (33, 3) world landmarks in metres, or None.
        silhouette: (H, W) bool or float person mask of the crop (H divisible by 32, W by 16).

    Returns:
        (:data:`NUM_FEATURES`,) float32.
    """
    h, w = silhouette.shape
    image = np.zeros((NUM_LANDMARKS, 3), np.float32)
    world = np.zeros((NUM_LANDMARKS, 3), np.float32)
    if landmarks_2d is not None and landmarks_3d is not None:
        image[:, 0] = (landmarks_2d[:, 0] - w / 2) / h
        image[:, 1] = (landmarks_2d[:, 1] - h / 2) / h
        image[:, 2] = landmarks_2d[:, 2]
        world[:] = landmarks_3d
    found = np.float32(landmarks_2d is not None)
    sil = np.asarray(silhouette, np.float32)
    cells = sil.reshape(SILHOUETTE_HW[0], h // SILHOUETTE_HW[0], SILHOUETTE_HW[1],
                        w // SILHOUETTE_HW[1])
    rows = sil.reshape(CROP_HEIGHT, h // CROP_HEIGHT, w).sum(axis=(1, 2)) / h
    return np.concatenate([image.ravel(), world.ravel(), [found],
                           cells.mean(axis=(1, 3)).ravel(), rows]).astype(np.float32)


#: MediaPipe landmark pairs swapped by a mirror image (left <-> right).
MIRROR_LANDMARKS = np.array([0, 4, 5, 6, 1, 2, 3, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15, 18, 17,
                             20, 19, 22, 21, 24, 23, 26, 25, 28, 27, 30, 29, 32, 31])
#: The same for :data:`JOINTS`.
MIRROR_JOINTS = np.array([JOINTS.index(
    n.replace("left", "@").replace("right", "left").replace("@", "right")) for n in JOINTS])


def mirror_features(x: np.ndarray) -> np.ndarray:
    """(N, NUM_FEATURES) features of crops -> those of the crops mirrored left to right: the
    landmarks' left and right swapped and their x negated (crop units and world metres), the
    silhouette flipped."""
    x = np.array(x, np.float32, copy=True)
    n = len(x)
    image = x[:, IMAGE_PART].reshape(n, NUM_LANDMARKS, 3)[:, MIRROR_LANDMARKS]
    world = x[:, WORLD_PART].reshape(n, NUM_LANDMARKS, 3)[:, MIRROR_LANDMARKS]
    image[..., 0] *= -1
    world[..., 0] *= -1
    cells = x[:, CELLS_PART].reshape(n, *SILHOUETTE_HW)[:, :, ::-1]
    return np.concatenate([image.reshape(n, -1), world.reshape(n, -1), x[:, FOUND_PART],
                           cells.reshape(n, -1), x[:, ROWS_PART]], axis=1)


def mirror_targets(y: np.ndarray) -> np.ndarray:
    """(N, len(TARGETS)) outputs for crops -> those of the mirrored crops: the lean within the
    image and the facing's sine negated, the joints' left and right swapped and x negated
    (the betas, the pitch and the lean out of the image stay)."""
    y = np.array(y, np.float32, copy=True)
    y[:, NUM_BETAS + 2] *= -1
    y[:, NUM_BETAS + 4] *= -1
    joints = y[:, FIRST_JOINT:].reshape(len(y), -1, 3)[:, MIRROR_JOINTS]
    joints[..., 0] *= -1
    y[:, FIRST_JOINT:] = joints.reshape(len(y), -1)
    return y


@dataclass
class ShapeEstimate:
    """What :class:`ShapeRegressor` reads from one crop.

    Attributes:
        betas: (10,) shape parameters of the body model.
        camera_pitch_deg: the camera's pitch, positive looking down.
        lean_out_deg: the pelvis -> neck line's angle out of the image plane, positive with
            the neck towards the camera (a camera looking down sees an upright body lean
            towards it by about its pitch).
        lean_in_deg: the same line's angle within the image, from the image's up towards its
            right.
        yaw_deg: the body's facing in the camera frame (0: facing the camera; 90: its front
            turned to the image's right, i.e. walking to the right).
        yaw_confidence: the length of the predicted (cos, sin) facing vector, in [0, ~1]:
            near 0 when the regressor cannot tell front from back.
        joints: (len(JOINTS), 3) the joints in crop pixels: ``u``, ``v`` where they project
            and their depth towards the camera relative to the pelvis, in pixels at the
            pelvis' depth (so that ``(u, -v, depth)`` is the body up to scale).
    """

    betas: np.ndarray
    camera_pitch_deg: float
    lean_out_deg: float
    lean_in_deg: float
    yaw_deg: float
    yaw_confidence: float
    joints: np.ndarray

    @property
    def lean_direction(self) -> np.ndarray:
        """(3,) unit pelvis -> neck direction in the camera frame (x right, y up, z towards
        the camera)."""
        out, inside = np.radians(self.lean_out_deg), np.radians(self.lean_in_deg)
        return np.array([np.cos(out) * np.sin(inside), np.cos(out) * np.cos(inside),
                         np.sin(out)])


class ShapeRegressor:
    """The trained multi-layer perceptrons (an ensemble), run in NumPy.

    Args:
        path: a ``.safetensors`` file written by ``scripts/train_shape_regressor.py``: for
            each member ``k`` of the ensemble, its layers ``m{k}.l{i}.weight`` (out, in) and
            ``m{k}.l{i}.bias`` (stored as float16, computed in float32) and its
            standardisation ``m{k}.x_mean``, ``m{k}.x_std``, ``m{k}.y_mean``, ``m{k}.y_std``.
    """

    def __init__(self, path: str | Path = SHAPE_REGRESSOR):
        from safetensors.numpy import load_file

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing: rebuild it with "
                                    "scripts/train_shape_regressor.py")
        tensors = {k: v.astype(np.float32) for k, v in load_file(str(path)).items()}
        self.members = []
        while f"m{len(self.members)}.x_mean" in tensors:
            prefix = f"m{len(self.members)}."
            layers, i = [], 0
            while f"{prefix}l{i}.weight" in tensors:
                layers.append((tensors[f"{prefix}l{i}.weight"].T.copy(),
                               tensors[f"{prefix}l{i}.bias"]))
                i += 1
            self.members.append(([tensors[prefix + k] for k in ("x_mean", "x_std", "y_mean",
                                                                "y_std")], layers))
        if not self.members or any(
                x_mean.shape != (NUM_FEATURES,) or y_mean.shape != (len(TARGETS),)
                for (x_mean, _, y_mean, _), _ in self.members):
            raise ValueError(f"{path} does not match this version's features or targets: "
                             "rebuild it with scripts/train_shape_regressor.py")

    def raw(self, x: np.ndarray) -> np.ndarray:
        """(N, NUM_FEATURES) features -> (N, len(TARGETS)) outputs, in the units of
        :data:`TARGETS`: the mean of the members' outputs."""
        out = []
        for (x_mean, x_std, y_mean, y_std), layers in self.members:
            h = (np.asarray(x, np.float32) - x_mean) / x_std
            for i, (weight, bias) in enumerate(layers):
                h = h @ weight + bias
                if i < len(layers) - 1:
                    h = gelu(h)
            out.append(h * y_std + y_mean)
        return np.mean(out, axis=0)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """(N, NUM_FEATURES) features -> (N, len(TARGETS)) estimates: the mean of the
        outputs for the crops and (mirrored back) for their mirror images, which halves the
        asymmetry a trained network keeps between left and right (test-time augmentation)."""
        return 0.5 * (self.raw(x) + mirror_targets(self.raw(mirror_features(x))))

    def __call__(self, landmarks_2d, landmarks_3d, silhouette) -> ShapeEstimate:
        """Estimate one crop's build, camera pitch, lean and facing (see :func:`features`)."""
        y = self.predict(features(landmarks_2d, landmarks_3d, silhouette)[None])[0]
        c, s = float(y[NUM_BETAS + 3]), float(y[NUM_BETAS + 4])
        return ShapeEstimate(betas=y[:NUM_BETAS].astype(np.float32),
                             camera_pitch_deg=float(y[NUM_BETAS]),
                             lean_out_deg=float(y[NUM_BETAS + 1]),
                             lean_in_deg=float(y[NUM_BETAS + 2]),
                             yaw_deg=float(np.degrees(np.arctan2(s, c))),
                             yaw_confidence=float(np.hypot(c, s)),
                             joints=from_crop_units(y[FIRST_JOINT:].reshape(-1, 3),
                                                    silhouette.shape))


def from_crop_units(joints: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """(K, 3) joints in crop units (``(u - W/2) / H``, ``(v - H/2) / H``, depth / H, as the
    regressor outputs them) -> crop pixels (u, v, depth towards the camera)."""
    h, w = hw
    return np.asarray(joints, np.float64) * h + np.array([w / 2, h / 2, 0.0])


def gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (``torch.nn.GELU(approximate="tanh")``)."""
    return 0.5 * x * (1.0 + np.tanh(0.7978845608028654 * (x + 0.044715 * x ** 3)))


@functools.lru_cache(maxsize=2)
def load_shape_regressor(path: str | None = None) -> ShapeRegressor:
    """The shipped regressor (loaded once per process)."""
    return ShapeRegressor(SHAPE_REGRESSOR if path is None else path)
