"""``lift_image``: a photo of a pedestrian -> a colored 3D point cloud (paper, Sec. IV-A)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

import numpy as np

from ognet.lift.fit import (
    BodyFit,
    BodyPoser,
    J,
    fallback_fit,
    fit_body,
    fit_person,
    lean,
)
from ognet.lift.image import CROP_SIZE, LiftError, NoPersonError, load_image, to_crop
from ognet.lift.people import PersonSegmenter, find_people, looks_like_a_person
from ognet.lift.person import continue_depth, nearest_parts, person_mask
from ognet.lift.pose import PoseEstimator
from ognet.lift.shape import ShapeEstimate, load_shape_regressor
from ognet.lift.surface import pixel_points, raycast_depth, vertex_colors


@dataclass
class LiftResult:
    """One lifted crop. Coordinates are metres in the person-centred frame: x to the image's
    right, y up, z towards the camera, origin at the centre of the fitted body's box in x and
    y and at the mean depth of the foreground in z (so the background plane is z = 0).

    Attributes:
        points: (8192, 6) float32 xyz + rgb in [0, 1], one point per pixel, row-major.
        foreground: (128, 64) bool, the pixels lifted off the background plane: the person's
            (the cleaned person mask) for ``"person"``, the fitted body's for ``"mean_body"``.
        image: (128, 64, 3) uint8, the crop.
        mask: (128, 64) float person probability from MediaPipe, or None (``"person"``: from
            its selfie segmenter when the pose model found no pose).
        mesh_vertices: (V, 3) the fitted body; mesh_faces: (F, 3).
        joints: (24, 3) float32, the fitted body's joints in SMPL order, in the cloud's frame.
        lifting: the name of the lifting that made it (:data:`LIFTINGS`).
        betas: (10,) the fitted body's shape parameters (zeros: the mean body).
        camera_pitch_deg: the estimated camera pitch (positive looking down), or None when the
            lifting does not estimate it.
        height_m: the person's standing height in metres when the caller gave it
            (``Lifter(...)(image, height_m=...)``), else None: a single tight crop has no
            absolute scale, so none is invented.
        body_pixels: (128, 64) bool, the pixels the fitted body covers (its ray-cast outline);
            foreground pixels off it took a depth continued from it.
        lean_deg: the fitted body's pelvis -> neck line's angle out of the image plane,
            positive with the neck towards the camera (``"person"``; None otherwise). A camera
            looking down sees an upright person lean towards it by about its pitch.
        yaw_deg: the fitted body's facing in the camera frame: 0 facing the camera, positive
            turned to the image's right, +-180 its back to the camera (``"person"``).
        lean_correction_deg: the angle by which the body was turned from the lean of
            MediaPipe's world landmarks onto the estimated one (``"person"`` with a pose).
        flip_repaired: that correction exceeded 45 degrees: MediaPipe's 3D pose was flipped
            in depth and the fit repaired it.
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
    body_pixels: np.ndarray | None = None
    lean_deg: float | None = None
    yaw_deg: float | None = None
    lean_correction_deg: float | None = None
    flip_repaired: bool = False


#: The named liftings (``Lifter(lifting=...)``), the default first.
#:
#: - ``"person"``: the person's own 3D. A small regressor (:mod:`ognet.lift.shape`) reads the
#:   build (betas), the camera's pitch, and the 3D joints in the camera frame (which carry
#:   the lean towards a camera looking down and the limbs' depth) from MediaPipe's landmarks
#:   and the person's silhouette; the body of that shape is posed on those joints by inverse
#:   kinematics, placed on their 2D positions and ray cast; the foreground is the person's
#:   mask, with the body's depth on the body and a depth continued smoothly from it elsewhere
#:   (:mod:`ognet.lift.person`).
#: - ``"mean_body"``: the mean body (betas = 0) posed by inverse kinematics on MediaPipe's
#:   world landmarks and ray cast; pixels off its outline are background. The lifting of the
#:   galleries built before ``"person"``; kept unchanged to reproduce them.
LIFTINGS = ("person", "mean_body")
DEFAULT_LIFTING = LIFTINGS[0]

#: Rays per pixel side of each lifting's body depth (:func:`ognet.lift.surface.raycast_depth`).
#: ``"person"`` averages 3 x 3 rays over each pixel's area: a pixel sees the mean depth of
#: the surface inside it, not one point's, which on the truth benchmark's development seed
#: (3131; 200 crops) takes the median depth RMSE from 5.76 to 5.57 cm (5 x 5 rays: 5.57) for
#: about 6 ms per crop (36 -> 42 ms). ``"mean_body"``
#: keeps its one centre ray, to reproduce the galleries it built.
DEPTH_SAMPLES = {"person": 3, "mean_body": 1}


class Lifter:
    """Holds the loaded pose model and body model; reuse one for many images.

    Args:
        body_model_dir: official SMPL files (``smplx.create`` layout); default: the free body.
            The ``"person"`` lifting's shape estimate is in the free body's shape space, so
            with other files the body keeps its mean shape (betas = 0).
        lifting: one of :data:`LIFTINGS`.
        depth_samples: rays per pixel side for the body's depth; default the lifting's own
            (:data:`DEPTH_SAMPLES`). Another value is for comparing, side by side in one
            run, a lifting with its variants (``benchmarks/bench_lift_truth.py``).
    """

    def __init__(self, body_model_dir: str | None = None, lifting: str = DEFAULT_LIFTING,
                 depth_samples: int | None = None):
        from ognet.body import load_body_model, vertex_parts

        if lifting not in LIFTINGS:
            raise ValueError(f"unknown lifting {lifting!r}; one of {', '.join(LIFTINGS)}")
        self.lifting = lifting
        self.depth_samples = DEPTH_SAMPLES[lifting] if depth_samples is None else depth_samples

        self.body = load_body_model(body_model_dir)
        self.vertex_parts = vertex_parts(self.body).astype(np.int8)
        self.poser = BodyPoser(self.body)
        self.faces = self.poser.faces
        self.pose = PoseEstimator()
        self.segmenter = PersonSegmenter()
        self.shape = load_shape_regressor() if lifting == "person" else None
        # The regressor's betas are the free body's shape space; other bodies keep theirs at 0.
        self.own_betas = body_model_dir is None
        self._lock = threading.Lock()  # one MediaPipe graph: one image at a time

    def find_people(self, image) -> list:
        """The people in a photo, largest first (:func:`ognet.lift.people.find_people`, each
        box confirmed by MediaPipe's person mask)."""
        with self._lock:
            return find_people(image, estimator=self.pose)

    def __call__(self, image, require_person: bool = False,
                 height_m: float | None = None) -> LiftResult:
        """Lift one pedestrian crop.

        Args:
            image: a path, bytes, file object, PIL image or array (:func:`load_image`).
            require_person: raise :class:`~ognet.lift.image.NoPersonError` when no person
                is found, instead of giving a body fitted to the crop box
                (``person_found=False``).
            height_m: the person's standing height in metres, where the caller knows it
                (the generator's metadata; a calibrated camera): the cloud is then scaled to
                it and ``LiftResult.height_m`` reports it. A crop alone has no absolute
                scale, so without it the cloud's metres are those of the body model's
                height for the estimated shape, and ``height_m`` is None.
        """
        if height_m is not None and not (np.isfinite(height_m) and 0.5 < height_m < 2.6):
            raise LiftError(f"height_m must be a person's height in metres; got {height_m!r}.")
        timings = {}
        t0 = time.perf_counter()
        crop = to_crop(load_image(image))
        timings["decode"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        segmenter_mask = None
        with self._lock:
            pose, mask = self.pose.estimate(crop, pad=PERSON_PAD if self.lifting == "person"
                                            else 0)
            person = pose is not None or _usable_mask(mask)
            if not person or (self.lifting == "person" and mask is None):
                segmenter_mask = self.segmenter.mask(crop)
                person = person or looks_like_a_person(segmenter_mask)
        timings["pose"] = time.perf_counter() - t0
        if not person and require_person:
            raise NoPersonError(NO_PERSON)

        estimate, probability = None, mask
        if self.lifting == "person":
            t0 = time.perf_counter()
            if probability is None and looks_like_a_person(segmenter_mask):
                probability = segmenter_mask
            silhouette = (person_mask(probability) if probability is not None
                          else np.zeros(CROP_SIZE, bool))
            estimate = self.shape(None if pose is None else pose.image,
                                  None if pose is None else pose.world, silhouette)
            if not self.own_betas:
                estimate.betas = np.zeros_like(estimate.betas)
            timings["shape"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        fit, method, message = None, "fallback", ""
        if pose is not None:
            if estimate is None:
                fit = fit_body(self.poser, pose)
            else:
                fit = fit_person(self.poser, pose, estimate.betas, estimate.joints)
            method, message = "pose", "MediaPipe found the pose; body fitted to its landmarks."
            if not _plausible(fit, CROP_SIZE):
                fit, message = None, ("MediaPipe's pose put the body off the crop or at an "
                                      "implausible size: ")
        if fit is None:
            fit = self._fallback(probability, estimate)
            method = "fallback"
            message = (message or "No pose found (a back view, a cut-off head or heavy "
                       "occlusion?): ") + _fallback_words(probability, estimate)
            if not person:
                message = NO_PERSON + " An upright walking body was fitted to the crop box."
        timings["fit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        depth, zbuffer, verts_px, hit_vertex = raycast_depth(
                fit, self.faces, CROP_SIZE, self.depth_samples)
        if method == "pose" and np.isfinite(depth).sum() < MIN_BODY_PIXELS:
            fit, method = self._fallback(probability, estimate), "fallback"
            message = ("MediaPipe's pose covered almost no pixel: "
                       + _fallback_words(probability, estimate))
            depth, zbuffer, verts_px, hit_vertex = raycast_depth(
                fit, self.faces, CROP_SIZE, self.depth_samples)
        timings["raycast"] = time.perf_counter() - t0

        body_pixels = np.isfinite(depth)
        parts = np.where(hit_vertex >= 0, self.vertex_parts[hit_vertex], -1).astype(np.int8)
        if estimate is not None:
            t0 = time.perf_counter()
            foreground = (person_mask(probability, seed=body_pixels)
                          if _usable_mask(probability) else body_pixels)
            depth = np.where(foreground, continue_depth(depth, foreground), np.nan)
            parts = nearest_parts(parts, foreground)
            timings["depth"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        points, foreground = pixel_points(fit, depth, crop)
        if not foreground.any():
            raise LiftError("The body could not be placed on the image (no pixel hit it).")
        colors, visible = vertex_colors(verts_px, zbuffer, crop)
        centre = _centre(fit, depth[foreground])
        points[:, :3] -= centre
        timings["colors"] = time.perf_counter() - t0
        result = LiftResult(
            points=points.astype(np.float32), foreground=foreground, image=crop,
            mask=mask if estimate is None else probability,
            mesh_vertices=(fit.vertices - centre).astype(np.float32), mesh_faces=self.faces,
            vertex_colors=colors, vertex_visible=visible,
            landmarks_2d=None if pose is None else pose.image,
            landmarks_3d=None if pose is None else pose.world,
            method=method, message=message, timings=timings,
            person_found=person, joints=(fit.joints - centre).astype(np.float32),
            lifting=self.lifting, betas=np.zeros(10, np.float32), parts=parts.reshape(-1),
            body_pixels=body_pixels)
        if estimate is not None:
            _describe(result, fit, estimate, pose)
        if height_m is not None:
            _scale_to_height(result, float(height_m), self.poser.shaped(result.betas))
        return result

    def _fallback(self, mask: np.ndarray | None, estimate: ShapeEstimate | None = None
                  ) -> BodyFit:
        """Without a (plausible) pose: the shape regressor's body posed from the silhouette
        (``"person"`` with a usable person mask), else an upright walking body fitted to the
        mask's box or the crop box."""
        mask = mask if _usable_mask(mask) else None
        if estimate is None or mask is None:
            return fallback_fit(self.poser, mask, CROP_SIZE)
        return fit_person(self.poser, None, estimate.betas, estimate.joints,
                          direction=estimate.lean_direction)


#: What a photo without a person gets (raised, or as the fallback's message).
NO_PERSON = ("No person found in the photo: MediaPipe found no pose and no person mask, and "
             "its segmenter no person-shaped region.")
#: A pose fit whose body covers fewer pixels than this is replaced by the fallback.
MIN_BODY_PIXELS = 100
#: The ``"person"`` lifting shows MediaPipe Pose the crop with this many pixels of its edge
#: replicated around it (``PoseEstimator.estimate``): far more poses found, and better ones.
PERSON_PAD = 48
#: A lean correction larger than this (degrees) means MediaPipe's 3D pose was flipped.
FLIP_DEG = 45.0


def _fallback_words(mask: np.ndarray | None, estimate: ShapeEstimate | None) -> str:
    """How :meth:`Lifter._fallback` placed the body, for the result's message."""
    if not _usable_mask(mask):
        return "an upright walking body was fitted to the crop box."
    if estimate is None:
        return "an upright walking body was fitted to the person mask."
    return "the body was posed from the person's silhouette (the shape regressor's joints)."


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


def _describe(result: LiftResult, fit: BodyFit, estimate: ShapeEstimate, pose) -> None:
    """Fill the ``"person"`` lifting's estimates into ``result``: build, camera pitch, the
    fitted body's lean and facing, and how far the lean was corrected."""
    result.betas = estimate.betas.astype(np.float32)
    result.camera_pitch_deg = round(estimate.camera_pitch_deg, 2)
    up = lean(fit.joints)
    result.lean_deg = round(float(np.degrees(np.arcsin(np.clip(up[2], -1, 1)))), 2)
    across = fit.joints[J["left_hip"]] - fit.joints[J["right_hip"]]
    front = np.cross(across, up)
    result.yaw_deg = round(float(np.degrees(np.arctan2(front[0], front[2]))), 2)
    if pose is not None and fit.turn_deg is not None:
        result.lean_correction_deg = round(fit.turn_deg, 2)
        result.flip_repaired = fit.turn_deg > FLIP_DEG


def _scale_to_height(result: LiftResult, height_m: float, poser: BodyPoser) -> None:
    """Scale the cloud, mesh and joints (about the cloud's origin) so that the fitted body's
    standing height (its rest pose's extent in y) is ``height_m``."""
    factor = height_m / float(np.ptp(poser.template[:, 1]))
    result.points[:, :3] *= factor
    result.mesh_vertices *= factor
    result.joints *= factor
    result.height_m = height_m


def _centre(fit: BodyFit, body_depths: np.ndarray) -> np.ndarray:
    lo, hi = fit.vertices.min(0), fit.vertices.max(0)
    return np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2, body_depths.mean()],
                    dtype=np.float32)


_DEFAULT: dict[tuple[str | None, str], Lifter] = {}
_DEFAULT_LOCK = threading.Lock()


def get_lifter(body_model_dir: str | None = None, lifting: str = DEFAULT_LIFTING) -> Lifter:
    """The process-wide :class:`Lifter` for ``body_model_dir`` and ``lifting`` (created on
    first use)."""
    with _DEFAULT_LOCK:
        key = (body_model_dir, lifting)
        if key not in _DEFAULT:
            _DEFAULT[key] = Lifter(body_model_dir, lifting=lifting)
        return _DEFAULT[key]


def lift_image(image, body_model_dir: str | None = None, lifting: str = DEFAULT_LIFTING
               ) -> LiftResult:
    """Lift a pedestrian photo (path, bytes, PIL image or array) to a colored point cloud
    with the named ``lifting`` (:data:`LIFTINGS`).

    Raises :class:`~ognet.lift.image.LiftError` with a readable message when the input is not
    a usable image. Models load once per process and are reused.
    """
    return get_lifter(body_model_dir, lifting)(image)
