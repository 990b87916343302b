"""Render one pedestrian crop: pose the body, aim a camera, cast one ray per pixel.

:class:`Synthesizer` turns ``(seed, pid, cam, index)`` into a 128x64 RGB crop, always the
same one: the identity comes from ``SeedSequence([seed, 0, pid])``, the camera from
``SeedSequence([seed, 1, cam])`` and the moment (gait phase, heading, spot on the walkway,
crop jitter, blur, noise) from ``SeedSequence([seed, 2, pid, cam, index])``; so any image can
be rendered alone, in any order, in any process.

Per image: the identity's body is posed walking (``ognet.synth.pose``) through ``smplx``,
stood on the ground at a spot of the camera's walkway; the camera (a pinhole at the camera's
height, aimed at the person) takes a detector-like box around the projected body (a little
margin, jitter, aspect 2:1) and casts one ray per pixel at twice the output resolution with
Open3D's ``RaycastingScene`` (CPU). Body hits are coloured by the identity's clothing at the
canonical point (barycentric interpolation of the unposed vertices) and lit with Lambert
shading from interpolated vertex normals; misses see the camera's ground and wall. The 2x
image is box-filtered down, blurred and given sensor noise.

``render_truth`` renders the same crop (the same bytes) and keeps what the renderer knows:
the person's mask and depth from the ray hits, the posed joints in the camera frame, the
camera's pitch and the crop's pinhole intrinsics, the body's height and shape
(:mod:`ognet.synth.truth`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import open3d as o3d
import torch
from scipy.ndimage import gaussian_filter
from scipy.spatial.transform import Rotation

from ognet.body import PART_NAMES, load_body_model, standing_height, vertex_parts
from ognet.synth.identity import Identity, albedo, sample_identity
from ognet.synth.pose import Gait, walking_pose
from ognet.synth.scene import CameraSpec, background, sample_camera
from ognet.synth.truth import RenderTruth, person_truth

#: Output crop size (height, width), as Market-1501.
IMAGE_HW = (128, 64)
SUPERSAMPLE = 2
#: Faces of the ray-cast body mesh (the free body has 27k).
RENDER_TRIANGLES = 9000

_BOX_FACES = np.array([[0, 2, 1], [0, 3, 2], [4, 5, 6], [4, 6, 7], [0, 1, 5], [0, 5, 4],
                       [2, 3, 7], [2, 7, 6], [1, 2, 6], [1, 6, 5], [0, 4, 7], [0, 7, 3]],
                      dtype=np.uint32)


class _OneThread:
    """Run torch on one thread inside the block: results then do not depend on how many
    threads the caller uses (sums split over threads round differently), which keeps a
    seed's files byte-identical in any process."""

    def __enter__(self):
        self._threads = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc):
        torch.set_num_threads(self._threads)


def _rng(*key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(list(key))))


def _box(center: np.ndarray, size: np.ndarray, rot: np.ndarray) -> np.ndarray:
    """(8, 3) corners of a box of ``size`` (w, h, d) turned by ``rot`` (3, 3) at ``center``."""
    sx, sy, sz = np.asarray(size) / 2
    corners = np.array([[-sx, -sy, -sz], [sx, -sy, -sz], [sx, sy, -sz], [-sx, sy, -sz],
                        [-sx, -sy, sz], [sx, -sy, sz], [sx, sy, sz], [-sx, sy, sz]])
    return (corners @ rot.T + center).astype(np.float32)


def _face_incidence(faces: np.ndarray, num_verts: int):
    """(V, F) sparse matrix summing face values onto their three vertices."""
    from scipy.sparse import csr_matrix

    rows = faces.reshape(-1).astype(np.int64)
    cols = np.repeat(np.arange(len(faces)), 3)
    return csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                      shape=(num_verts, len(faces)))


def _vertex_normals(verts: np.ndarray, faces: np.ndarray, incidence) -> np.ndarray:
    """(V, 3) unit area-weighted vertex normals of a triangle mesh (``incidence``: see
    :func:`_face_incidence`)."""
    tri = verts[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    vn = incidence @ fn
    return vn / np.maximum(np.linalg.norm(vn, axis=1, keepdims=True), 1e-12)


def _simplified_surface(rest: np.ndarray, faces: np.ndarray, triangles: int):
    """A lighter copy of the body mesh that follows the full one.

    The rest mesh is decimated (quadric error, deterministic) to about ``triangles`` faces,
    and each new vertex is tied to the closest point of the full surface, so it follows
    the full mesh in any pose and shape.

    Returns:
        ``(S, V)`` sparse barycentric map (full vertices -> simplified vertices), the
        simplified faces ``(F', 3)`` uint32, and ``(S,)`` the full vertex each simplified one
        is closest to.
    """
    from scipy.sparse import csr_matrix

    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(rest.astype(np.float64)),
                                     o3d.utility.Vector3iVector(faces.astype(np.int32)))
    simple = mesh.simplify_quadric_decimation(target_number_of_triangles=triangles)
    points = np.asarray(simple.vertices, dtype=np.float32)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(rest.astype(np.float32)), o3d.core.Tensor(faces))
    closest = scene.compute_closest_points(o3d.core.Tensor(points))
    tri = faces[closest["primitive_ids"].numpy()].astype(np.int64)
    uv = closest["primitive_uvs"].numpy()
    w = np.stack([1 - uv[:, 0] - uv[:, 1], uv[:, 0], uv[:, 1]], axis=1)
    rows = np.repeat(np.arange(len(points)), 3)
    mapping = csr_matrix((w.reshape(-1), (rows, tri.reshape(-1))),
                         shape=(len(points), len(rest)))
    nearest = tri[np.arange(len(tri)), w.argmax(1)]
    return mapping, np.asarray(simple.triangles, dtype=np.uint32), nearest


class _Person:
    """An identity's unposed body: vertices (V, 3), joints (24, 3) and bag anchors."""

    def __init__(self, body, ident: Identity, parts: np.ndarray, mapping):
        with torch.no_grad(), _OneThread():
            out = body(betas=torch.as_tensor(ident.betas[None]))
        self.verts = out.vertices[0].numpy().astype(np.float32)
        self.canon = (mapping @ self.verts).astype(np.float32)  # the simplified mesh's
        self.joints = out.joints[0, :24].numpy().astype(np.float64)
        torso = self.verts[parts == PART_NAMES.index("torso")]
        self.back_z = float(torso[:, 2].min())
        self.hip_x = float(np.abs(torso[:, 0]).max())
        self.height = standing_height(self.verts)


@dataclass
class _Frame:
    """One rendered crop and the geometry behind it (world frame of the camera, metres).

    Attributes:
        image: (H, W, 3) uint8, the crop.
        t_hit: (2H, 2W) depth along the optical axis of each ray's hit on the person, inf
            where a ray missed.
        origin: (3,) the camera centre; basis: (3, 3) rows = the camera's x (right), y (up)
            and z (backwards) axes, so ``basis @ (p - origin)`` is ``p`` in the camera frame.
        joints: (24, 3) the posed joints; orient (3,), pose (69,): the pose parameters.
        box: the crop in the image plane ``(a, b) = (x, y) / depth``: left, top, width, height.
    """

    image: np.ndarray
    t_hit: np.ndarray
    origin: np.ndarray
    basis: np.ndarray
    joints: np.ndarray
    orient: np.ndarray
    pose: np.ndarray
    box: tuple[float, float, float, float]

    def truth(self, ident: Identity, person: _Person, hw: tuple[int, int],
              key: tuple[int, int, int, int]) -> RenderTruth:
        """This crop's :class:`RenderTruth` (``key``: pid, cam, index, seed), everything in
        the camera frame."""
        mask, depth = person_truth(self.t_hit, hw)
        left, top, width, height = self.box
        focal = np.array([hw[1] / width, hw[0] / height])
        root = self.basis @ Rotation.from_rotvec(self.orient).as_matrix()
        pitch = np.degrees(np.arcsin(np.clip(self.basis[2, 1], -1.0, 1.0)))
        pid, cam, index, seed = key
        return RenderTruth(
            image=self.image, mask=mask, depth=depth,
            joints=((self.joints - self.origin) @ self.basis.T).astype(np.float32),
            height_m=person.height, camera_pitch_deg=float(pitch),
            betas=np.asarray(ident.betas, np.float32).copy(),
            global_orient=Rotation.from_matrix(root).as_rotvec().astype(np.float32),
            body_pose=np.asarray(self.pose, np.float32).copy(),
            focal_px=focal.astype(np.float32),
            principal_px=np.array([-left * focal[0], top * focal[1]], np.float32),
            pid=pid, cam=cam, index=index, seed=seed)


class Synthesizer:
    """Renders the synthetic world of one seed.

    Args:
        seed: the world's seed (identities, cameras, every image).
        body: an ``smplx`` body module (default: ``ognet.body.load_body_model()``).
        hw: output (height, width).
        triangles: faces of the (decimated) mesh that is ray cast; building the ray
            tracer's tree for the full 27k-face body was most of the time of an image.
    """

    def __init__(self, seed: int, body=None, hw: tuple[int, int] = IMAGE_HW,
                 triangles: int = RENDER_TRIANGLES):
        self.seed = int(seed)
        self.body = body if body is not None else load_body_model()
        self.faces = np.asarray(self.body.faces, dtype=np.uint32)
        self.parts = vertex_parts(self.body)
        with torch.no_grad(), _OneThread():
            rest = self.body().vertices[0].numpy()
        self._mapping, self.render_faces, nearest = _simplified_surface(
            rest, self.faces, triangles)
        self.render_parts = self.parts[nearest]
        self._incidence = _face_incidence(self.render_faces, len(nearest))
        self.hw = hw
        self._people: dict[int, tuple[Identity, _Person]] = {}
        self._cameras: dict[int, CameraSpec] = {}

    def identity(self, pid: int) -> Identity:
        """The identity ``pid`` (1-based) of this world."""
        return sample_identity(_rng(self.seed, 0, pid), pid, self.body)

    def camera(self, cam: int) -> CameraSpec:
        """Camera ``cam`` (1-based) of this world."""
        if cam not in self._cameras:
            self._cameras[cam] = sample_camera(_rng(self.seed, 1, cam), cam)
        return self._cameras[cam]

    def _person(self, pid: int) -> tuple[Identity, _Person]:
        if pid not in self._people:
            if len(self._people) > 64:
                self._people.pop(next(iter(self._people)))
            ident = self.identity(pid)
            self._people[pid] = (ident, _Person(self.body, ident, self.parts, self._mapping))
        return self._people[pid]

    def render(self, pid: int, cam: int, index: int = 0) -> np.ndarray:
        """The ``index``-th crop of identity ``pid`` seen by camera ``cam``.

        Args:
            pid: identity, 1-based (the ``PPPP`` of a file name).
            cam: camera, 1-based (the ``C`` of ``cC``: 1..6); note ``ognet.data``'s
                ``camid`` is 0-based. Other numbers give extra cameras the dataset never uses.
            index: take number; the dataset uses ``0 .. images_per_camera - 1``, so a larger
                index (e.g. 100) is a fresh view of a gallery identity for example queries.

        Returns:
            (H, W, 3) uint8 RGB (128x64 by default).
        """
        ident, person = self._person(pid)
        camera = self.camera(cam)
        rng = _rng(self.seed, 2, pid, cam, index)
        return self._render(ident, person, camera, rng).image

    def render_truth(self, pid: int, cam: int, index: int = 0) -> RenderTruth:
        """The crop of :meth:`render` (the same bytes) with what is really in it: the
        person's mask, depth, joints, height, the camera's pitch and the body's shape
        (:class:`ognet.synth.truth.RenderTruth`). Costs about what ``render`` costs."""
        ident, person = self._person(pid)
        camera = self.camera(cam)
        rng = _rng(self.seed, 2, pid, cam, index)
        frame = self._render(ident, person, camera, rng)
        return frame.truth(ident, person, self.hw, (pid, cam, index, self.seed))

    # ------------------------------------------------------------------ internals

    def _gait(self, ident: Identity, camera: CameraSpec, rng) -> Gait:
        stride, swing, arm_out, elbow = ident.gait
        if rng.random() < 0.1:  # standing, waiting
            stride, swing = 0.04, 0.03
        if rng.random() < 0.75:  # along the camera's walkway, either way
            heading = camera.walk_axis + np.pi * rng.integers(0, 2) + rng.normal(0, 0.35)
        else:
            heading = rng.uniform(-np.pi, np.pi)
        return Gait(phase=float(rng.uniform(0, 2 * np.pi)),
                    stride=float(stride * rng.uniform(0.85, 1.15)),
                    arm_swing=float(swing * rng.uniform(0.8, 1.2)), arm_out=arm_out,
                    elbow_bend=elbow, heading=float(heading),
                    head_yaw=float(rng.normal(0, 0.2)), lean=float(rng.uniform(0.0, 0.08)))

    def _render(self, ident: Identity, person: _Person, camera: CameraSpec, rng) -> _Frame:
        gait = self._gait(ident, camera, rng)
        orient, pose = walking_pose(person.joints, gait)
        with torch.no_grad(), _OneThread():
            out = self.body(betas=torch.as_tensor(ident.betas[None]),
                            body_pose=torch.as_tensor(pose[None]),
                            global_orient=torch.as_tensor(orient[None]))
        verts = (self._mapping @ out.vertices[0].numpy()).astype(np.float32)
        joints = out.joints[0, :24].numpy()

        # Stand the body on the ground at a spot of the walkway.
        dist = rng.uniform(*camera.distance)
        spot = np.array([rng.uniform(-camera.lateral, camera.lateral), 0.0, -dist], np.float32)
        offset = spot - np.array([0.0, verts[:, 1].min(), 0.0], np.float32)
        verts += offset
        joints = joints + offset
        heading = Rotation.from_rotvec([0, gait.heading, 0]).as_matrix()

        meshes = [(verts, self.render_faces)]
        if ident.bag != "none":
            J = person.joints
            if ident.bag == "backpack":
                anchor = 0.5 * (J[6] + J[9])  # spine2, spine3
                local = np.array([0.0, -0.02, person.back_z - ident.bag_size[2] / 2 + 0.02])
                posed_anchor = 0.5 * (joints[6] + joints[9])
            else:
                anchor = J[0]
                local = np.array([-(person.hip_x + ident.bag_size[2] / 2), 0.02, 0.0])
                posed_anchor = joints[0]
            center = posed_anchor + heading @ (local - np.array([0.0, 0.0, anchor[2]]))
            size = ident.bag_size if ident.bag == "backpack" else ident.bag_size[[2, 1, 0]]
            meshes.append((_box(center, size, heading), _BOX_FACES))

        # Camera: a pinhole at the camera's height, aimed at the person's middle.
        origin = np.array([0.0, camera.height, 0.0], np.float32)
        lo, hi = verts.min(0), verts.max(0)
        fwd = 0.5 * (lo + hi) - origin
        fwd /= np.linalg.norm(fwd)
        right = np.cross(fwd, [0.0, 1.0, 0.0])
        right /= np.linalg.norm(right)
        up = np.cross(right, fwd)
        rel = verts - origin
        depth = rel @ fwd
        a, b = (rel @ right) / depth, (rel @ up) / depth

        # A detector's box: the body's extent, a little margin, jitter, aspect 2:1.
        box_h = b.max() - b.min()
        top = b.max() + box_h * rng.uniform(0.0, 0.08)
        bottom = b.min() - box_h * rng.uniform(0.0, 0.07)
        if rng.random() < 0.1:  # a clipped box: the feet or the head cut a little
            if rng.random() < 0.5:
                bottom += box_h * rng.uniform(0.02, 0.08)
            else:
                top -= box_h * rng.uniform(0.01, 0.04)
        height = top - bottom
        width = max(height / 2 * rng.uniform(0.9, 1.12), (a.max() - a.min()) * 1.04)
        cx = 0.5 * (a.max() + a.min()) + rng.normal(0, 0.035) * height
        H, W = self.hw[0] * SUPERSAMPLE, self.hw[1] * SUPERSAMPLE
        rows = top - (np.arange(H, dtype=np.float32) + 0.5) / H * height
        cols = cx - width / 2 + (np.arange(W, dtype=np.float32) + 0.5) / W * width
        bb, aa = np.meshgrid(rows, cols, indexing="ij")
        dirs = (aa.reshape(-1, 1) * right + bb.reshape(-1, 1) * up + fwd).astype(np.float32)

        # Cast only the rays of 8x8-pixel cells near a projected vertex (or the bag).
        cell = 8
        grid = np.zeros((H // cell + 2, W // cell + 2), bool)
        pts = [(a, b)]
        for v, _ in meshes[1:]:
            r = v - origin
            d = r @ fwd
            pa, pb = (r @ right) / d, (r @ up) / d
            ga, gb = np.meshgrid(np.linspace(pa.min(), pa.max(), 24),
                                 np.linspace(pb.min(), pb.max(), 24))
            pts.append((ga.ravel(), gb.ravel()))
        for pa, pb in pts:
            col = ((pa - (cx - width / 2)) / width * W / cell).astype(np.int64) + 1
            row = ((top - pb) / height * H / cell).astype(np.int64) + 1
            ok = (col >= 0) & (col < grid.shape[1]) & (row >= 0) & (row < grid.shape[0])
            grid[row[ok], col[ok]] = True
        near = grid.copy()
        near[1:] |= grid[:-1]
        near[:-1] |= grid[1:]
        near[:, 1:] |= near[:, :-1].copy()
        near[:, :-1] |= near[:, 1:].copy()
        near = np.repeat(np.repeat(near[1:-1, 1:-1], cell, 0), cell, 1)[:H, :W].reshape(-1)
        cast = np.flatnonzero(near)

        scene = o3d.t.geometry.RaycastingScene()
        for v, f in meshes:
            scene.add_triangles(o3d.core.Tensor(np.ascontiguousarray(v)), o3d.core.Tensor(f))
        rays = np.concatenate([np.broadcast_to(origin, (len(cast), 3)), dirs[cast]], axis=1)
        hit = scene.cast_rays(o3d.core.Tensor(np.ascontiguousarray(rays)))
        t_hit = np.full(len(dirs), np.inf, np.float32)
        t_hit[cast] = hit["t_hit"].numpy()
        geom = np.full(len(dirs), -1, np.int64)
        geom[cast] = hit["geometry_ids"].numpy()
        prim = np.zeros(len(dirs), np.int64)
        prim[cast] = hit["primitive_ids"].numpy()
        uv = np.zeros((len(dirs), 2), np.float32)
        uv[cast] = hit["primitive_uvs"].numpy()
        normals_hit = np.zeros((len(dirs), 3), np.float32)
        normals_hit[cast] = hit["primitive_normals"].numpy()

        image = np.empty((len(dirs), 3), np.float32)
        miss = ~np.isfinite(t_hit)
        image[miss] = background(camera, origin, dirs[miss], spot[[0, 2]])
        ambient = camera.ambient * camera.ambient_color
        body_hit = np.isfinite(t_hit) & (geom == 0)
        if body_hit.any():
            tri = self.render_faces[prim[body_hit]]
            w = np.stack([1 - uv[body_hit, 0] - uv[body_hit, 1], uv[body_hit, 0],
                          uv[body_hit, 1]], axis=1).astype(np.float32)
            canon = np.einsum("pk,pkc->pc", w, person.canon[tri])
            part = self.render_parts[tri[np.arange(len(tri)), w.argmax(1)]]
            color = albedo(ident, canon, part, person.joints)
            vn = _vertex_normals(verts, self.render_faces, self._incidence)
            normals = np.einsum("pk,pkc->pc", w, vn[tri])
            normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-9)
            flip = np.einsum("pc,pc->p", normals, dirs[body_hit]) > 0
            normals[flip] *= -1
            image[body_hit] = self._shade(color, normals, camera, ambient)
        bag_hit = np.isfinite(t_hit) & (geom == 1)
        if bag_hit.any():
            normals = normals_hit[bag_hit]
            flip = np.einsum("pc,pc->p", normals, dirs[bag_hit]) > 0
            normals[flip] *= -1
            color = np.broadcast_to(ident.bag_color, normals.shape)
            image[bag_hit] = self._shade(color, normals, camera, ambient)
        return _Frame(image=self._develop(image.reshape(H, W, 3), camera, rng),
                      t_hit=t_hit.reshape(H, W), origin=origin,
                      basis=np.stack([right, up, -fwd]), joints=joints, orient=orient,
                      pose=pose,
                      box=(float(cx - width / 2), float(top), float(width), float(height)))

    @staticmethod
    def _shade(color, normals, camera: CameraSpec, ambient) -> np.ndarray:
        """Lambert: (P, 3) albedo x (hemispheric ambient + direct light)."""
        lambert = np.clip(normals @ camera.light_dir, 0.0, None)[:, None]
        sky = (0.75 + 0.25 * normals[:, 1:2])
        return color * (ambient * sky + camera.light_color * lambert)

    def _develop(self, image: np.ndarray, camera: CameraSpec, rng) -> np.ndarray:
        """(2H, 2W, 3) linear image -> (H, W, 3) uint8: box filter, the camera's exposure,
        saturation and contrast, blur, noise."""
        H, W = self.hw
        img = image.reshape(H, SUPERSAMPLE, W, SUPERSAMPLE, 3).mean(axis=(1, 3))
        img = img * camera.exposure
        grey = img.mean(axis=2, keepdims=True)
        img = grey + camera.saturation * (img - grey)  # the sensor's colour response
        img = 0.5 + camera.contrast * (img - 0.5)
        sigma = rng.uniform(*camera.blur)
        img = gaussian_filter(img, sigma=(sigma, sigma, 0), mode="nearest")
        img = img * 255.0 + rng.normal(0.0, camera.noise, img.shape)
        return np.clip(np.rint(img), 0, 255).astype(np.uint8)
