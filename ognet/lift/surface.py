"""Map every pixel of the crop onto the fitted body: one orthographic ray per pixel.

The mesh is placed in pixel space by the fitted camera and cast at with Open3D's
``RaycastingScene`` (CPU, headless). A ray that hits the body gives its pixel's depth on the
visible surface (the nearest hit: one pixel, one foreground point); a pixel off the body is
background and gets the mean depth of the body pixels. Foreground is decided by the mesh hit,
not by the segmentation mask, so that every foreground point lies on the body surface.

With ``samples > 1`` a pixel's depth is the mean over ``samples x samples`` rays spread evenly
over its area (those that hit), the depth a camera's pixel integrates, rather than one
point's; which pixels are the body's is still the centre ray's.
"""

from __future__ import annotations

import numpy as np
import open3d as o3d

from ognet.lift.fit import BodyFit


def raycast_depth(fit: BodyFit, faces: np.ndarray, hw: tuple[int, int], samples: int = 1):
    """Per-pixel depth of the fitted mesh.

    Args:
        samples: rays per pixel side; odd, so that the centre ray is one of them. The depth
            of a body pixel (its centre ray hits) is the mean of its rays that hit, across
            surfaces too: at an arm held in front of the torso a pixel sees both, as a
            camera's pixel (and the generator's truth, ``ognet.synth.truth``) averages them.

    Returns:
        depth: (H, W) float32 metres along +z (towards the camera), NaN where no hit.
        zbuffer_pixels: the centre rays' depth in pixel units (for vertex visibility).
        verts_px: (V, 3) the mesh in pixel units.
        hit_vertex: (H, W) int64, the vertex of the hit triangle nearest to the hit (its
            largest barycentric weight), -1 where no hit; its body part is the pixel's.
    """
    if samples < 1 or samples % 2 == 0:
        raise ValueError(f"samples must be odd and positive; got {samples}")
    h, w = hw
    s, (tu, tv) = fit.scale, fit.offset
    verts = np.stack([s * fit.vertices[:, 0] + tu, -s * fit.vertices[:, 1] + tv,
                      s * fit.vertices[:, 2]], axis=1).astype(np.float32)
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(verts), o3d.core.Tensor(faces.astype(np.uint32)))
    top = float(verts[:, 2].max()) + 10.0
    v, u = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    hits = _cast_down(scene, u, v, top)
    t_hit = hits["t_hit"].numpy().reshape(h, w)
    z_pixels = np.where(np.isfinite(t_hit), top - t_hit, np.nan).astype(np.float32)
    z_mean = z_pixels
    if samples > 1:
        offsets = (np.arange(samples, dtype=np.float32) + 0.5) / samples - 0.5
        du, dv = (a.ravel() for a in np.meshgrid(offsets, offsets))
        t_sub = _cast_down(scene, u[..., None] + du, v[..., None] + dv, top)["t_hit"]
        z_sub = top - t_sub.numpy().reshape(h, w, samples * samples)
        hit_sub = np.isfinite(z_sub)  # the centre ray is one of them: >= 1 on a body pixel
        z_sum = np.where(hit_sub, z_sub, 0.0).sum(axis=-1)
        z_mean = np.where(np.isfinite(t_hit), z_sum / np.maximum(hit_sub.sum(axis=-1), 1),
                          np.nan).astype(np.float32)
    return z_mean / s, z_pixels, verts, _nearest_corner(hits, faces, np.isfinite(t_hit))


def _cast_down(scene, u: np.ndarray, v: np.ndarray, top: float) -> dict:
    """Cast one ray per ``(u, v)`` from height ``top`` straight down -z; the hits, flat."""
    rays = np.stack([u, v, np.full_like(u, top), np.zeros_like(u), np.zeros_like(u),
                     -np.ones_like(u)], axis=-1).reshape(-1, 6)
    return scene.cast_rays(o3d.core.Tensor(rays))


def _nearest_corner(hits: dict, faces: np.ndarray, hit: np.ndarray) -> np.ndarray:
    """(H, W) vertex id nearest to each ray's hit, -1 where none. Open3D's hit point is
    ``(1 - u - v) * a + u * b + v * c`` for the triangle's corners ``(a, b, c)``."""
    tri = hits["primitive_ids"].numpy().reshape(hit.shape).astype(np.int64)
    uv = hits["primitive_uvs"].numpy().reshape(*hit.shape, 2)
    weights = np.stack([1.0 - uv[..., 0] - uv[..., 1], uv[..., 0], uv[..., 1]], axis=-1)
    corner = weights.argmax(axis=-1)
    vertex = np.take_along_axis(faces[np.where(hit, tri, 0)], corner[..., None], -1)[..., 0]
    return np.where(hit, vertex, -1).astype(np.int64)


def pixel_points(fit: BodyFit, depth: np.ndarray, rgb: np.ndarray):
    """(H, W) depth + (H, W, 3) colours -> (H*W, 6) points (row-major pixel order) and the
    (H, W) foreground mask; xyz still in the camera frame (metres)."""
    h, w = depth.shape
    s, (tu, tv) = fit.scale, fit.offset
    v, u = np.mgrid[0:h, 0:w].astype(np.float32) + 0.5
    foreground = np.isfinite(depth)
    z = np.where(foreground, depth, depth[foreground].mean() if foreground.any() else 0.0)
    xyz = np.stack([(u - tu) / s, -(v - tv) / s, z], axis=-1)
    colors = rgb.astype(np.float32) / 255.0
    return np.concatenate([xyz, colors], axis=-1).reshape(-1, 6), foreground


def vertex_colors(verts_px: np.ndarray, zbuffer: np.ndarray, rgb: np.ndarray,
                  tolerance_px: float = 1.5):
    """Colour of each mesh vertex seen by the camera: (V, 3) float in [0, 1] and (V,) bool.

    A vertex is visible when it lies inside the crop and no closer than ``tolerance_px``
    behind the depth the rays found at its pixel."""
    h, w = zbuffer.shape
    u = np.floor(verts_px[:, 0]).astype(int)
    v = np.floor(verts_px[:, 1]).astype(int)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    visible = np.zeros(len(verts_px), dtype=bool)
    zb = zbuffer[v[inside], u[inside]]
    visible[inside] = np.isfinite(zb) & (verts_px[inside, 2] >= zb - tolerance_px)
    colors = np.full((len(verts_px), 3), 0.6, dtype=np.float32)
    colors[visible] = rgb[v[visible], u[visible]].astype(np.float32) / 255.0
    return colors, visible
