"""Render one synthetic pedestrian crop headless on the CPU (Open3D raycasting)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import torch
from PIL import Image, ImageFilter
from scipy.spatial.transform import Rotation

from ognet.body import SMPL_JOINT_NAMES

J = {name: i for i, name in enumerate(SMPL_JOINT_NAMES)}
CROP = (128, 64)  # (height, width)
SUPERSAMPLE = 2


@dataclass
class Camera:
    """A fixed camera of the synthetic 'campus': what differs between camera ids."""

    pitch: float  # radians looking down
    tint: np.ndarray  # (3,) lighting colour
    light: np.ndarray  # (3,) direction towards the light
    ambient: float
    background: str  # pavement, wall, stripes, noise
    bg_colours: np.ndarray  # (2, 3)
    margin: float  # fraction of the crop above the head


def sample_camera(rng: np.random.Generator) -> Camera:
    light = np.array([rng.uniform(-0.6, 0.6), rng.uniform(0.4, 1.0), rng.uniform(0.3, 1.0)])
    return Camera(
        pitch=float(rng.uniform(0.0, 0.35)),
        tint=np.clip(1 + rng.normal(0, 0.08, 3), 0.8, 1.2),
        light=light / np.linalg.norm(light),
        ambient=float(rng.uniform(0.35, 0.55)),
        background=("pavement", "wall", "stripes", "noise")[rng.integers(4)],
        bg_colours=rng.uniform(0.2, 0.85, (2, 3)),
        margin=float(rng.uniform(0.03, 0.08)),
    )


def walking_pose(phase: float, swing: float) -> np.ndarray:
    """(69,) body_pose of a walking cycle at ``phase`` (radians) with arm ``swing``."""
    pose = np.zeros((23, 3))
    s = np.sin(phase)
    pose[J["left_hip"] - 1, 0] = -0.45 * s
    pose[J["right_hip"] - 1, 0] = 0.45 * s
    pose[J["left_knee"] - 1, 0] = 0.15 + 0.45 * max(0.0, np.sin(phase + 1.2))
    pose[J["right_knee"] - 1, 0] = 0.15 + 0.45 * max(0.0, -np.sin(phase + 1.2))
    pose[J["left_shoulder"] - 1, 0] = swing * s
    pose[J["right_shoulder"] - 1, 0] = -swing * s
    pose[J["left_elbow"] - 1, 1] = -0.25
    pose[J["right_elbow"] - 1, 1] = 0.25
    return pose.reshape(-1)


def background(camera: Camera, rng: np.random.Generator, hw: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) float procedural background: no photographs involved."""
    h, w = hw
    yy, xx = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    a, b = camera.bg_colours
    if camera.background == "pavement":
        img = np.where((yy > 0.55)[..., None], b, a) * 1.0
        tiles = ((xx * 6 + (yy * 9).astype(int) * 0.5) % 1 < 0.05) & (yy > 0.55)
        img[tiles] *= 0.7
    elif camera.background == "wall":
        img = a + (b - a) * yy[..., None]
        img[((yy * 14) % 1 < 0.06)] *= 0.8
    elif camera.background == "stripes":
        img = np.where(((xx * 5 + rng.uniform()) % 1 < 0.5)[..., None], a, b) * 1.0
    else:
        img = a + 0.15 * rng.standard_normal((h, w, 1))
    img = img + 0.03 * rng.standard_normal((h, w, 3))
    return np.clip(img, 0, 1)


def render_person(body, albedo: np.ndarray, betas: np.ndarray, camera: Camera,
                  rng: np.random.Generator) -> np.ndarray:
    """Render one 128x64 RGB uint8 crop of a posed, dressed body seen by ``camera``."""
    heading = float(rng.choice([0.0, np.pi, np.pi / 2, -np.pi / 2, np.pi / 4, -3 * np.pi / 4])
                    + rng.normal(0, 0.15))
    orient = Rotation.from_euler("x", camera.pitch) * Rotation.from_euler("y", heading)
    with torch.no_grad():
        out = body(betas=torch.as_tensor(betas)[None],
                   body_pose=torch.as_tensor(walking_pose(rng.uniform(0, 2 * np.pi),
                                                          rng.uniform(0.1, 0.45)),
                                             dtype=torch.float32)[None],
                   global_orient=torch.as_tensor(orient.as_rotvec(), dtype=torch.float32)[None])
    v = out.vertices[0].numpy()
    h, w = CROP[0] * SUPERSAMPLE, CROP[1] * SUPERSAMPLE
    # Orthographic camera: the person's height fills the crop minus the margins; slight
    # jitter of scale and centre, as a detector's boxes have.
    top = camera.margin + rng.uniform(-0.02, 0.02)
    bottom = 1 - rng.uniform(0.02, 0.06)
    scale = (bottom - top) * h / (v[:, 1].max() - v[:, 1].min())
    cx = w / 2 + rng.normal(0, 0.04) * w
    mid = (v[:, 0].max() + v[:, 0].min()) / 2
    px = np.stack([scale * (v[:, 0] - mid) + cx, scale * (v[:, 1].max() - v[:, 1]) + top * h,
                   scale * v[:, 2]], axis=1).astype(np.float32)
    scene = o3d.t.geometry.RaycastingScene()
    faces = np.asarray(body.faces, dtype=np.uint32)
    scene.add_triangles(o3d.core.Tensor(px), o3d.core.Tensor(faces))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    z0 = float(px[:, 2].max()) + 10
    rays = np.stack([xx, yy, np.full_like(xx, z0), np.zeros_like(xx), np.zeros_like(xx),
                     -np.ones_like(xx)], -1).reshape(-1, 6)
    hit = scene.cast_rays(o3d.core.Tensor(rays))
    tri = hit["primitive_ids"].numpy().reshape(h, w).astype(np.int64)
    uv = hit["primitive_uvs"].numpy().reshape(h, w, 2)
    normals = hit["primitive_normals"].numpy().reshape(h, w, 3)
    on_body = tri != o3d.t.geometry.RaycastingScene.INVALID_ID
    img = background(camera, rng, (h, w))
    f = faces[tri[on_body]].astype(np.int64)
    bu, bv = uv[on_body, 0:1], uv[on_body, 1:2]
    colour = albedo[f[:, 0]] * (1 - bu - bv) + albedo[f[:, 1]] * bu + albedo[f[:, 2]] * bv
    # Normals in pixel space have y pointing down: flip to y up for the light.
    n = normals[on_body] * np.array([1, -1, 1])
    lambert = np.abs(n @ camera.light)
    img[on_body] = colour * (camera.ambient + (1 - camera.ambient) * lambert[:, None])
    img = np.clip(img * camera.tint, 0, 1)
    pil = Image.fromarray((img * 255 + 0.5).astype(np.uint8)).resize((CROP[1], CROP[0]),
                                                                       Image.BOX)
    return np.asarray(pil.filter(ImageFilter.GaussianBlur(float(rng.uniform(0.0, 0.6)))))
