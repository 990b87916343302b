"""Walking poses for SMPL-format bodies, from a gait phase and a few style numbers.

SMPL's joint rotations are axis-angle vectors in the rest frame (y up, the body facing
``+z``, its left side at ``+x``); each rotates its joint's subtree about the joint. The free
body's rest pose has the arms out at about 45 degrees and the elbows bent, so the pose first
lowers the arms and straightens the elbows (computed from the rest joints of the very body
being posed), then swings legs and arms in opposition over one gait cycle:

* hips flex forward and back by ``stride`` (radians), the knee bends most in early swing;
* each arm swings against the leg on its side by ``arm_swing``;
* the spine twists a little against the pelvis, the head turns by ``head_yaw``.

``global_orient`` turns the whole body by ``heading`` about the vertical (0: facing ``+z``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from ognet.body import SMPL_JOINT_NAMES

_J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}


@dataclass(frozen=True)
class Gait:
    """One moment of a walk.

    Attributes:
        phase: gait phase in radians (the left leg is furthest forward at ``pi / 2``).
        stride: hip flexion amplitude (radians, about 0.25-0.5 walking, 0.05 standing).
        arm_swing: shoulder swing amplitude (radians).
        arm_out: extra sideways lift of the arms (radians; 0.1 hangs them by the body).
        elbow_bend: resting elbow flexion (radians).
        heading: body yaw about the vertical (radians; 0 faces ``+z``, the camera).
        head_yaw: head turn relative to the body (radians).
        lean: forward lean of the spine (radians).
    """

    phase: float
    stride: float = 0.35
    arm_swing: float = 0.3
    arm_out: float = 0.12
    elbow_bend: float = 0.3
    heading: float = 0.0
    head_yaw: float = 0.0
    lean: float = 0.04


def _swing_to(src: np.ndarray, dst: np.ndarray) -> Rotation:
    """The smallest rotation taking direction ``src`` to direction ``dst``."""
    src = src / np.linalg.norm(src)
    dst = dst / np.linalg.norm(dst)
    axis = np.cross(src, dst)
    n = np.linalg.norm(axis)
    if n < 1e-9:
        return Rotation.identity()
    return Rotation.from_rotvec(axis / n * np.arctan2(n, src @ dst))


def walking_pose(rest_joints: np.ndarray, gait: Gait) -> tuple[np.ndarray, np.ndarray]:
    """SMPL pose parameters for ``gait`` on the body whose rest joints are ``rest_joints``.

    Args:
        rest_joints: (24, 3) joint positions of the unposed body (its own betas).
        gait: the moment of the walk.

    Returns:
        ``global_orient`` (3,) and ``body_pose`` (69,) float32 axis-angle vectors.
    """
    J = np.asarray(rest_joints, dtype=np.float64)
    rot: dict[str, Rotation] = {}
    s = np.sin(gait.phase)

    # Legs: straighten the rest pose's splay to the vertical, then flex at the hip.
    for side, sign in (("left", 1.0), ("right", -1.0)):
        hip, knee = J[_J[f"{side}_hip"]], J[_J[f"{side}_knee"]]
        ankle = J[_J[f"{side}_ankle"]]
        down = np.array([0.015 * sign, -1.0, 0.0])
        align = _swing_to(knee - hip, down)
        leg_phase = gait.phase if side == "left" else gait.phase + np.pi
        flex = -gait.stride * np.sin(leg_phase)  # negative x: the thigh forward
        rot[f"{side}_hip"] = Rotation.from_rotvec([flex, 0, 0]) * align
        # Knee: bent most in early swing (the leg behind, moving forward).
        bend = 0.08 + gait.stride * 1.6 * max(0.0, np.cos(leg_phase + 0.7)) ** 1.5
        # The knee turns in the thigh's frame: first make the shin continue the thigh.
        straight = _swing_to(ankle - knee, align.inv().apply(down))
        rot[f"{side}_knee"] = Rotation.from_rotvec([bend, 0, 0]) * straight
        rot[f"{side}_ankle"] = Rotation.from_rotvec([-0.3 * bend + 0.1 * flex, 0, 0])

    # Arms: hang them down (a little out), swing against the legs, relax the elbows.
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder, elbow = J[_J[f"{side}_shoulder"]], J[_J[f"{side}_elbow"]]
        wrist = J[_J[f"{side}_wrist"]]
        hang = np.array([np.sin(gait.arm_out) * sign, -np.cos(gait.arm_out), 0.0])
        lower = _swing_to(elbow - shoulder, hang)
        swing = gait.arm_swing * s * sign  # the left arm forward when the right leg is
        rot[f"{side}_shoulder"] = Rotation.from_rotvec([swing, 0, 0]) * lower
        # The elbow turns in the upper arm's rest frame: aim the forearm ``bend`` radians
        # off the upper arm, towards what will be the front once the arm hangs.
        upper_dir = _unit(elbow - shoulder)
        bend = gait.elbow_bend + 0.5 * gait.arm_swing * max(0.0, -s * sign)
        forward = lower.inv().apply([0.0, 0.0, 1.0])
        forward = _unit(forward - (forward @ upper_dir) * upper_dir)
        target = np.cos(bend) * upper_dir + np.sin(bend) * forward
        rot[f"{side}_elbow"] = _swing_to(wrist - elbow, target)

    twist = 0.12 * gait.stride * s
    rot["spine1"] = Rotation.from_rotvec([gait.lean * 0.5, -twist, 0])
    rot["spine3"] = Rotation.from_rotvec([gait.lean * 0.5, twist * 1.5, 0])
    rot["neck"] = Rotation.from_rotvec([-gait.lean * 0.5, gait.head_yaw * 0.4, 0])
    rot["head"] = Rotation.from_rotvec([0, gait.head_yaw * 0.6, 0])

    body_pose = np.zeros((23, 3))
    for name, r in rot.items():
        body_pose[_J[name] - 1] = r.as_rotvec()
    global_orient = Rotation.from_rotvec([0, gait.heading, 0]).as_rotvec()
    return global_orient.astype(np.float32), body_pose.reshape(-1).astype(np.float32)


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)
