"""Fit the body to one person: analytic inverse kinematics, then an orthographic camera.

Two fits, one per lifting (``ognet.lift.LIFTINGS``):

**``fit_body``** (``"mean_body"``) fits the mean body to MediaPipe's landmarks:

1. Global orientation from the hips and shoulders of the 3D world landmarks.
2. Limb rotations by inverse kinematics, down the kinematic tree: each bone (hip->knee,
   knee->ankle, ankle->toes, shoulder->elbow, elbow->wrist, neck->head) gets the smallest
   rotation that takes its rest direction onto the landmarks' direction. The spine and the
   collars keep their rest rotation (the pose prior: MediaPipe sees no spine).
3. Shape: the mean body (betas = 0).
4. An orthographic camera ``u = s x + t_u, v = -s y + t_v`` (pixels) by least squares between
   the posed joints and the visible 2D landmarks.

Tried and left out: a second IK pass on hybrid targets (x, y from the 2D landmarks through
the camera of step 4, z from the world landmarks). Silhouette IoU on five rendered bodies
rose 0.763 -> 0.774 and on real queries 1 and 4 by 5 points, but on the test render (yaw
0.4) the median depth error grew 4.3 -> 5.4 cm and the depth correlation fell 0.46 -> 0.34:
the image and world landmarks disagree in scale, which tilts the bones in depth.

**``fit_person``** (``"person"``) fits the body of the estimated shape to the joints the
shape regressor (``ognet.lift.shape``) estimated in the camera frame: the same inverse
kinematics on SMPL's own joints (which carry the camera's pitch and the limbs' depth), and
the camera fitted to where the regressor puts those joints in the image. Tried and left out
for it: rescaling the camera so that the body spans the silhouette's rows (the landmark fit
left bodies about 6% short): silhouette coverage rose but the depth RMSE on held-out renders
grew 6.4 -> 6.7 cm (limbs moved off their pixels); turning the posed body onto the
regressor's separate lean estimate: lean error 2.8 -> 2.7 degrees, depth unchanged (kept for
the fit without a pose, where it helps).

Everything is closed-form: no iterative optimisation, so a fit takes a few milliseconds and
is deterministic.

When MediaPipe finds no pose, :func:`fallback_fit` poses an upright walking body facing the
camera and fits its box to the person mask, or to the crop when there is no mask (the
``"person"`` lifting poses its body from the silhouette instead, see
``ognet.lift.lifter.Lifter``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ognet.body import SMPL_JOINT_NAMES, SMPL_PARENTS
from ognet.lift.pose import LANDMARKS, PoseEstimate

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}

#: SMPL joint -> MediaPipe landmark(s) whose mean is its target.
TARGETS = {
    "pelvis": ("left_hip", "right_hip"),
    "left_hip": ("left_hip",), "right_hip": ("right_hip",),
    "left_knee": ("left_knee",), "right_knee": ("right_knee",),
    "left_ankle": ("left_ankle",), "right_ankle": ("right_ankle",),
    "left_foot": ("left_foot_index",), "right_foot": ("right_foot_index",),
    "neck": ("left_shoulder", "right_shoulder"),
    "head": ("left_ear", "right_ear"),
    "left_shoulder": ("left_shoulder",), "right_shoulder": ("right_shoulder",),
    "left_elbow": ("left_elbow",), "right_elbow": ("right_elbow",),
    "left_wrist": ("left_wrist",), "right_wrist": ("right_wrist",),
}
#: Joints whose rotation is solved, and the child joint whose direction it must match.
IK_BONES = {
    "left_hip": "left_knee", "right_hip": "right_knee",
    "left_knee": "left_ankle", "right_knee": "right_ankle",
    "left_ankle": "left_foot", "right_ankle": "right_foot",
    "left_shoulder": "left_elbow", "right_shoulder": "right_elbow",
    "left_elbow": "left_wrist", "right_elbow": "right_wrist",
    "neck": "head",
}
#: The walking prior of the fallback: (joint, axis-angle) in the rest frame.
WALKING_PRIOR = {
    "left_hip": (-0.25, 0, 0), "right_hip": (0.2, 0, 0), "left_knee": (0.35, 0, 0),
    "right_knee": (0.1, 0, 0), "left_shoulder": (0.2, 0, 0), "right_shoulder": (-0.2, 0, 0),
    "left_elbow": (0, -0.2, 0), "right_elbow": (0, 0.2, 0),
}


@dataclass
class BodyFit:
    """A posed body and its camera.

    Attributes:
        vertices: (V, 3) posed mesh, metres, camera frame (y up, z towards the camera).
        joints: (24, 3) posed joints, same frame.
        global_orient: (3,) axis-angle; body_pose: (69,) axis-angle of joints 1..23.
        scale, offset: the orthographic camera, ``(u, v) = (s x + t_u, -s y + t_v)`` pixels.
        turn_deg: the angle (degrees) between the lean (pelvis -> neck) of MediaPipe's world
            landmarks and that of the body :func:`fit_person` fitted; None for the others.
    """

    vertices: np.ndarray
    joints: np.ndarray
    global_orient: np.ndarray
    body_pose: np.ndarray
    scale: float
    offset: np.ndarray
    turn_deg: float | None = None


def _frame(across: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Orthonormal frame (columns x, y, z) with x along ``across`` and y close to ``up``."""
    x = across / (np.linalg.norm(across) + 1e-9)
    y = up - x * (up @ x)
    y /= np.linalg.norm(y) + 1e-9
    return np.stack([x, y, np.cross(x, y)], axis=1)


def _rotation_between(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Smallest rotation (3x3) taking direction a onto direction b."""
    a = a / (np.linalg.norm(a) + 1e-9)
    b = b / (np.linalg.norm(b) + 1e-9)
    axis = np.cross(a, b)
    s, c = np.linalg.norm(axis), float(np.clip(a @ b, -1, 1))
    if s < 1e-8:
        if c > 0:
            return np.eye(3)
        ortho = np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0])
        return Rotation.from_rotvec(np.pi * ortho / np.linalg.norm(ortho)).as_matrix()
    return Rotation.from_rotvec(axis / s * np.arctan2(s, c)).as_matrix()


def _targets(world: np.ndarray) -> dict[str, np.ndarray]:
    return {j: world[[LANDMARKS[m] for m in marks]].mean(0) for j, marks in TARGETS.items()}


def inverse_kinematics(rest: np.ndarray, world: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rest joints (24, 3) and world landmarks (33, 3) -> global_orient (3,), body_pose (69,)."""
    return solve_ik(rest, _targets(world))


def solve_ik(rest: np.ndarray, t: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rest joints (24, 3) and target positions of the joints of :data:`TARGETS` (name ->
    (3,)) -> global_orient (3,), body_pose (69,): the root's frame from the hips and the
    pelvis -> neck line, each bone of :data:`IK_BONES` by the smallest rotation."""
    rest_frame = _frame(rest[J["left_hip"]] - rest[J["right_hip"]],
                        rest[J["neck"]] - rest[J["pelvis"]])
    seen_frame = _frame(t["left_hip"] - t["right_hip"], t["neck"] - t["pelvis"])
    glob = [None] * 24
    glob[0] = seen_frame @ rest_frame.T
    local = np.zeros((24, 3, 3))
    local[0] = glob[0]
    for j in range(1, 24):
        parent = glob[SMPL_PARENTS[j]]
        name = SMPL_JOINT_NAMES[j]
        glob[j] = parent
        if name in IK_BONES:
            child = IK_BONES[name]
            d_rest = parent @ (rest[J[child]] - rest[j])
            glob[j] = _rotation_between(d_rest, t[child] - t[name]) @ parent
        local[j] = parent.T @ glob[j]
    rotvecs = Rotation.from_matrix(local).as_rotvec()  # one call: scipy's per-call cost
    return rotvecs[0], rotvecs[1:].reshape(-1)


class BodyPoser:
    """Linear blend skinning of an ``smplx.SMPL`` module at its mean shape (betas = 0; another
    shape with :meth:`shaped`), in NumPy float32: the same vertices as ``body(global_orient=...,
    body_pose=..., betas=...)`` (to 1e-5 m) in a few milliseconds, without torch's per-call
    overhead. Built once per body.

    Attributes:
        faces: (F, 3) int64; rest_joints: (24, 3) joints of the unposed body; betas: its shape.
    """

    def __init__(self, body):
        def arr(t):
            return t.detach().cpu().numpy().astype(np.float32)

        self.template = arr(body.v_template)                          # (V, 3)
        self.rest_joints = arr(body.J_regressor) @ self.template       # (24, 3)
        shapedirs = arr(body.shapedirs)                                # (V, 3, B)
        self.betas = np.zeros(shapedirs.shape[-1], np.float32)
        self._shape_vertices = np.ascontiguousarray(shapedirs.reshape(-1, len(self.betas)))
        self._shape_joints = np.einsum("jv,vcb->jcb", arr(body.J_regressor),
                                       shapedirs).reshape(-1, len(self.betas))
        posedirs = arr(body.posedirs)                                  # (207, V * 3)
        # The free body has no pose correctives (all zeros): skip the 207 x 3V product.
        self.posedirs = posedirs if np.any(posedirs) else None
        self.weights = arr(body.lbs_weights)                           # (V, 24)
        self.parents = body.parents.cpu().numpy().astype(np.int64)
        self.faces = np.asarray(body.faces, dtype=np.int64)

    def shaped(self, betas: np.ndarray) -> BodyPoser:
        """A poser of the same body with shape ``betas`` (B,) instead of the mean shape:
        ``template + shapedirs @ betas`` and its joints (as smplx's ``betas`` argument)."""
        shaped = copy.copy(self)
        shaped.betas = np.zeros_like(self.betas)
        given = np.asarray(betas, np.float32).reshape(-1)[:len(self.betas)]
        shaped.betas[:len(given)] = given
        shaped.template = self.template + (self._shape_vertices @ shaped.betas).reshape(-1, 3)
        shaped.rest_joints = self.rest_joints + (self._shape_joints @ shaped.betas).reshape(-1, 3)
        return shaped

    def _chain(self, global_orient: np.ndarray, body_pose: np.ndarray):
        """Rotations (24, 3, 3) and world transforms (24, 4, 4) of the kinematic chain."""
        full = np.concatenate([np.ravel(global_orient), np.ravel(body_pose)]).reshape(24, 3)
        rots = Rotation.from_rotvec(full.astype(np.float64)).as_matrix().astype(np.float32)
        rest = self.rest_joints
        world = np.zeros((24, 4, 4), dtype=np.float32)
        for j in range(24):
            local = np.eye(4, dtype=np.float32)
            local[:3, :3] = rots[j]
            p = self.parents[j]
            local[:3, 3] = rest[j] - (rest[p] if j > 0 else 0.0)
            world[j] = local if j == 0 else world[p] @ local
        return rots, world

    def __call__(self, global_orient: np.ndarray, body_pose: np.ndarray):
        """(3,) + (69,) axis-angle -> (V, 3) vertices and (24, 3) joints, metres."""
        rots, world = self._chain(global_orient, body_pose)
        v_posed = self.template
        if self.posedirs is not None:
            pose_feature = (rots[1:] - np.eye(3, dtype=np.float32)).reshape(-1)
            v_posed = v_posed + (pose_feature @ self.posedirs).reshape(-1, 3)
        rest = self.rest_joints
        joints = world[:, :3, 3].copy()
        skin = world.copy()
        skin[:, :3, 3] -= np.einsum("jab,jb->ja", world[:, :3, :3], rest)
        per_vertex = (self.weights @ skin.reshape(24, 16)).reshape(-1, 4, 4)
        verts = np.einsum("vab,vb->va", per_vertex[:, :3, :3], v_posed) + per_vertex[:, :3, 3]
        return verts, joints


def fit_camera(joints: np.ndarray, pose: PoseEstimate, min_visibility: float = 0.3):
    """Least-squares orthographic camera from posed joints to the visible 2D landmarks."""
    rows, rhs = [], []
    for name, marks in TARGETS.items():
        idx = [LANDMARKS[m] for m in marks]
        if pose.image[idx, 2].min() < min_visibility:
            continue
        u, v = pose.image[idx, :2].mean(0)
        x, y, _ = joints[J[name]]
        rows += [[x, 1.0, 0.0], [-y, 0.0, 1.0]]
        rhs += [u, v]
    if len(rows) < 6:  # fewer than three joints seen: use all of them regardless
        return fit_camera(joints, pose, min_visibility=-1.0)
    sol, *_ = np.linalg.lstsq(np.array(rows), np.array(rhs), rcond=None)
    return float(abs(sol[0])), np.array([sol[1], sol[2]])


def fit_body(poser: BodyPoser, pose: PoseEstimate) -> BodyFit:
    """Fit the body of ``poser`` to one MediaPipe pose."""
    global_orient, body_pose = inverse_kinematics(poser.rest_joints, pose.world)
    vertices, joints = poser(global_orient, body_pose)
    scale, offset = fit_camera(joints, pose)
    return BodyFit(vertices, joints, global_orient, body_pose, scale, offset)


def lean(joints: np.ndarray) -> np.ndarray:
    """(3,) unit pelvis -> neck direction of (24, 3) joints."""
    v = joints[J["neck"]] - joints[J["pelvis"]]
    return v / (np.linalg.norm(v) + 1e-9)


def turned(poser: BodyPoser, global_orient: np.ndarray, body_pose: np.ndarray,
           direction: np.ndarray) -> tuple[np.ndarray, float]:
    """The global orientation (3,) axis-angle that turns the posed body, by the smallest
    rotation about its root, so that its pelvis -> neck line points along ``direction`` (3,)
    (camera frame), and the angle turned (degrees). The limbs keep their pose relative to
    the torso."""
    _, joints = poser(global_orient, body_pose)
    before, after = lean(joints), np.asarray(direction, np.float64)
    after = after / np.linalg.norm(after)
    rot = _rotation_between(before, after)
    angle = float(np.degrees(np.arccos(np.clip(before @ after, -1.0, 1.0))))
    return (Rotation.from_matrix(rot @ Rotation.from_rotvec(global_orient).as_matrix())
            .as_rotvec(), angle)


def fit_person(poser: BodyPoser, pose: PoseEstimate | None, betas: np.ndarray,
               joints: np.ndarray, direction: np.ndarray | None = None) -> BodyFit:
    """Fit the body of shape ``betas`` to the joints the shape regressor estimated.

    ``joints`` (len(JOINTS), 3) are SMPL's joints of :data:`TARGETS` (in that order) in crop
    pixels: ``u``, ``v`` and the depth towards the camera relative to the pelvis
    (:class:`ognet.lift.shape.ShapeEstimate`). The limbs are posed by inverse kinematics onto
    ``(u, -v, depth)`` (the body up to scale, in the camera frame: it carries the camera's
    pitch and the limbs' depth that MediaPipe's world landmarks mostly miss), and the
    orthographic camera is fitted by least squares between the posed joints and the
    estimated ``(u, v)``, all of them (the regressor has learnt where SMPL's joints project,
    which MediaPipe's surface landmarks are not). With ``direction`` (3,), the posed body is
    first turned about its root so that its pelvis -> neck line points along it. ``turn_deg``
    records the angle between the lean of MediaPipe's world landmarks (``pose``; None without
    a pose) and the fitted body's."""
    shaped = poser.shaped(betas)
    names = tuple(TARGETS)
    targets = {name: np.array([u, -v, depth]) for name, (u, v, depth)
               in zip(names, joints, strict=True)}
    global_orient, body_pose = solve_ik(shaped.rest_joints, targets)
    if direction is not None:
        global_orient, _ = turned(shaped, global_orient, body_pose, direction)
    vertices, posed = shaped(global_orient, body_pose)
    scale, offset = fit_camera_to(posed[[J[name] for name in names]], joints[:, :2])
    turn = None
    if pose is not None:
        mediapipe = _targets(pose.world)
        seen = mediapipe["neck"] - mediapipe["pelvis"]
        seen /= np.linalg.norm(seen) + 1e-9
        turn = float(np.degrees(np.arccos(np.clip(seen @ lean(posed), -1.0, 1.0))))
    return BodyFit(vertices, posed, global_orient, body_pose, scale, offset, turn)


def fit_camera_to(points: np.ndarray, uv: np.ndarray) -> tuple[float, np.ndarray]:
    """Least-squares orthographic camera ``u = s x + t_u, v = -s y + t_v`` taking (K, 3)
    points onto (K, 2) pixels: the scale ``s`` and the offset (2,)."""
    rows = np.zeros((2 * len(points), 3))
    rows[0::2, 0], rows[0::2, 1] = points[:, 0], 1.0
    rows[1::2, 0], rows[1::2, 2] = -points[:, 1], 1.0
    sol, *_ = np.linalg.lstsq(rows, np.asarray(uv, np.float64).reshape(-1), rcond=None)
    return float(abs(sol[0])), np.array([sol[1], sol[2]])


def fallback_fit(poser: BodyPoser, mask: np.ndarray | None, crop_hw: tuple[int, int]) -> BodyFit:
    """An upright walking body facing the camera, fitted to the person mask's box (or to the
    crop with a detector's margins when there is no usable mask)."""
    body_pose = np.zeros((23, 3))
    for name, rotvec in WALKING_PRIOR.items():
        body_pose[J[name] - 1] = rotvec
    body_pose = body_pose.reshape(-1)
    global_orient = np.zeros(3)
    vertices, joints = poser(global_orient, body_pose)
    h, w = crop_hw
    box = None
    if mask is not None and (mask > 0.5).sum() > 0.05 * h * w:
        rows = np.flatnonzero((mask > 0.5).any(1))
        cols = np.flatnonzero((mask > 0.5).any(0))
        box = (rows[0], rows[-1] + 1, cols[0], cols[-1] + 1)
    if box is None:
        box = (0.04 * h, 0.98 * h, 0.1 * w, 0.9 * w)
    top, bottom, left, right = box
    y_min, y_max = vertices[:, 1].min(), vertices[:, 1].max()
    scale = (bottom - top) / (y_max - y_min)
    x_mid = (vertices[:, 0].min() + vertices[:, 0].max()) / 2
    offset = np.array([(left + right) / 2 - scale * x_mid, top + scale * y_max])
    return BodyFit(vertices, joints, global_orient, body_pose, float(scale), offset)
