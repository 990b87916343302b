"""``lift_image``: a photo of a pedestrian -> a colored 3D point cloud (paper, Sec. IV-A)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ognet.lift.fit import BodyFit, BodyPoser, fallback_fit, fit_body
from ognet.lift.image import CROP_SIZE, LiftError, NoPersonError, load_image, to_crop
from ognet.lift.people import PersonSegmenter, find_people, looks_like_a_person
from ognet.lift.pose import PoseEstimator
from ognet.lift.surface import pixel_points, raycast_depth, vertex_colors


@dataclass
class LiftResult:
    """One lifted crop. Coordinates are metres in the person-centred frame: x to the image's
    right, y up, z towards the camera, origin at the centre of the fitted body's box in x and
    y and at the mean depth of its visible surface in z (so the background plane is z = 0).

    Attributes:
        points: (8192, 6) float32 xyz + rgb in [0, 1], one point per pixel, row-major.
        foreground: (128, 64) bool, pixels on the body (the others are background).
        image: (128, 64, 3) uint8, the crop.
        mask: (128, 64) float person probability from MediaPipe, or None.
        mesh_vertices: (V, 3) the fitted body; mesh_faces: (F, 3).
        joints: (24, 3) float32, the fitted body's joints in SMPL order, in the cloud's frame.
        lifting: the name of the lifting that made it (:data:`LIFTINGS`).
        betas: (10,) the fitted body's shape parameters (zeros: the mean body).
        camera_pitch_deg: the estimated camera pitch (positive looking down), or None when the
            lifting does not estimate it.
        height_m: the person's standing height in metres where the input gives absolute scale,
            else None (a single tight crop has none).
        vertex_colors: (V, 3) colours from the photo (grey where unseen);
        vertex_visible: (V,) bool.
        landmarks_2d: (33, 3) x, y (crop pixels), visibility; None for the fallback.
        landmarks_3d: (33, 3) MediaPipe world landmarks (y up, z to the camera) or None.
        method: ``"pose"`` or ``"fallback"``; message: how the cloud was obtained.
        person_found: False when neither MediaPipe's pose, nor its person mask, nor its
            selfie segmenter (``ognet.lift.people``) saw a person: the cloud is a body fitted
            to the crop box, not a person's.
        timings: seconds per stage (decode, pose, fit, raycast, colors).
        parts: (8192,) int8 body part of each point (index into ``ognet.body.PART_NAMES``,
            from the skinning of the mesh vertex nearest to the pixel's ray hit), -1 for the
            background (the points off the body).
    """

    points: np.ndarray
    foreground: np.ndarray
    image: np.ndarray
    mask: np.ndarray | None
    mesh_vertices: np.ndarray
    mesh_faces: np.ndarray
    vertex_colors: np.ndarray
    vertex_visible: np.ndarray
    landmarks_2d: np.ndarray | None
    landmarks_3d: np.ndarray | None
    method: str
    message: str
    timings: dict[str, float] = field(default_factory=dict)
    parts: np.ndarray | None = None
    person_found: bool = True
    joints: np.ndarray | None = None
    lifting: str = "mean_body"
    betas: np.ndarray | None = None
    camera_pitch_deg: float | None = None
    height_m: float | None = None


#: The named liftings (``Lifter(lifting=...)``). ``"mean_body"``: the mean body (betas = 0)
#: posed by inverse kinematics and ray cast; pixels off its outline are background.
LIFTINGS = ("mean_body",)


class Lifter:
    """Holds the loaded pose model and body model; reuse one for many images.

    Args:
        body_model_dir: official SMPL files (``smplx.create`` layout); default: the free body.
        lifting: one of :data:`LIFTINGS`.
    """

    def __init__(self, body_model_dir: str | None = None, lifting: str = "mean_body"):
        from ognet.body import load_body_model, vertex_parts

        if lifting not in LIFTINGS:
            raise ValueError(f"unknown lifting {lifting!r}; one of {', '.join(LIFTINGS)}")
        self.lifting = lifting

        self.body = load_body_model(body_model_dir)
        self.vertex_parts = vertex_parts(self.body).astype(np.int8)
        self.poser = BodyPoser(self.body)
        self.faces = self.poser.faces
        self.pose = PoseEstimator()
        self.segmenter = PersonSegmenter()
        self._lock = threading.Lock()  # one MediaPipe graph: one image at a time

    def find_people(self, image) -> list:
        """The people in a photo, largest first (:func:`ognet.lift.people.find_people`, each
        box confirmed by MediaPipe's person mask)."""
        with self._lock:
            return find_people(image, estimator=self.pose)

    def __call__(self, image, require_person: bool = False) -> LiftResult:
        """Lift one pedestrian crop. With ``require_person``, a photo in which no person is
        found raises :class:`~ognet.lift.image.NoPersonError` instead of giving a body fitted
        to the crop box (``person_found=False``)."""
        timings = {}
        t0 = time.perf_counter()
        crop = to_crop(load_image(image))
        timings["decode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        with self._lock:
            pose, mask = self.pose.estimate(crop)
            person = (pose is not None or _usable_mask(mask)
                      or looks_like_a_person(self.segmenter.mask(crop)))
        timings["pose"] = time.perf_counter() - t0
        if not person and require_person:
            raise NoPersonError(NO_PERSON)

        t0 = time.perf_counter()
        fit, method, message = None, "fallback", ""
        if pose is not None:
            fit = fit_body(self.poser, pose)
            method, message = "pose", "MediaPipe found the pose; body fitted to its landmarks."
            if not _plausible(fit, CROP_SIZE):
                fit, message = None, ("MediaPipe's pose put the body off the crop or at an "
                                      "implausible size: ")
        if fit is None:
            fit = self._fallback(mask)
            method = "fallback"
            message = (message or "No pose found (a back view, a cut-off head or heavy "
                       "occlusion?): ") + "an upright walking body was fitted to the " + (
                "person mask." if _usable_mask(mask) else "crop box.")
            if not person:
                message = NO_PERSON + " An upright walking body was fitted to the crop box."
        timings["fit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        depth, zbuffer, verts_px, hit_vertex = raycast_depth(fit, self.faces, CROP_SIZE)
        if method == "pose" and np.isfinite(depth).sum() < MIN_BODY_PIXELS:
            fit, method = self._fallback(mask), "fallback"
            message = ("MediaPipe's pose covered almost no pixel: an upright walking body was "
                       "fitted to the " + ("person mask." if _usable_mask(mask) else "crop box."))
            depth, zbuffer, verts_px, hit_vertex = raycast_depth(fit, self.faces, CROP_SIZE)
        timings["raycast"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        points, foreground = pixel_points(fit, depth, crop)
        if not foreground.any():
            raise LiftError("The body could not be placed on the image (no pixel hit it).")
        colors, visible = vertex_colors(verts_px, zbuffer, crop)
        centre = _centre(fit, depth[foreground])
        points[:, :3] -= centre
        timings["colors"] = time.perf_counter() - t0
        return LiftResult(
            points=points.astype(np.float32), foreground=foreground, image=crop, mask=mask,
            mesh_vertices=(fit.vertices - centre).astype(np.float32), mesh_faces=self.faces,
            vertex_colors=colors, vertex_visible=visible,
            landmarks_2d=None if pose is None else pose.image,
            landmarks_3d=None if pose is None else pose.world,
            method=method, message=message, timings=timings,
            person_found=person, joints=(fit.joints - centre).astype(np.float32),
            lifting=self.lifting, betas=np.zeros(10, np.float32),
            parts=np.where(hit_vertex >= 0, self.vertex_parts[hit_vertex], -1).astype(
                np.int8).reshape(-1))


    def _fallback(self, mask: np.ndarray | None) -> BodyFit:
        return fallback_fit(self.poser, mask if _usable_mask(mask) else None, CROP_SIZE)


#: What a photo without a person gets (raised, or as the fallback's message).
NO_PERSON = ("No person found in the photo: MediaPipe found no pose and no person mask, and "
             "its segmenter no person-shaped region.")
#: A pose fit whose body covers fewer pixels than this is replaced by the fallback.
MIN_BODY_PIXELS = 100


def _usable_mask(mask: np.ndarray | None) -> bool:
    """A person mask covering more than 5% of the crop (the fallback fits its box)."""
    return mask is not None and (mask > 0.5).mean() > 0.05


def _plausible(fit: BodyFit, hw: tuple[int, int]) -> bool:
    """Is the fitted body finite, a quarter to four crop heights tall, and centred within the
    crop (with one crop of margin)?"""
    if not (np.isfinite(fit.vertices).all() and np.isfinite(fit.offset).all()
            and np.isfinite(fit.scale)):
        return False
    h, w = hw
    tall = fit.scale * np.ptp(fit.vertices[:, 1])
    u = fit.scale * fit.vertices[:, 0].mean() + fit.offset[0]
    v = -fit.scale * fit.vertices[:, 1].mean() + fit.offset[1]
    return 0.25 * h < tall < 4 * h and -w < u < 2 * w and -h < v < 2 * h


def _centre(fit: BodyFit, body_depths: np.ndarray) -> np.ndarray:
    lo, hi = fit.vertices.min(0), fit.vertices.max(0)
    return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, body_depths.mean()],
                    dtype=np.float32)


_DEFAULT: dict[str | None, Lifter] = {}
_DEFAULT_LOCK = threading.Lock()


def get_lifter(body_model_dir: str | None = None) -> Lifter:
    """The process-wide :class:`Lifter` for ``body_model_dir`` (created on first use)."""
    with _DEFAULT_LOCK:
        if body_model_dir not in _DEFAULT:
            _DEFAULT[body_model_dir] = Lifter(body_model_dir)
        return _DEFAULT[body_model_dir]


def lift_image(image, body_model_dir: str | None = None) -> LiftResult:
    """Lift a pedestrian photo (path, bytes, PIL image or array) to a colored point cloud.

    Raises :class:`~ognet.lift.image.LiftError` with a readable message when the input is not
    a usable image. Models load once per process and are reused.
    """
    return get_lifter(body_model_dir)(image)
