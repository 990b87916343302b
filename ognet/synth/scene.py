"""The six cameras of the synthetic world and their procedural surroundings.

Each camera stands at the origin of its own world frame (y up, ground at ``y = 0``), at a
height of a few metres, and looks down the ``-z`` axis at a walkway where people pass at
4-12 m. Behind the walkway stands a wall (bricks, panels, windows, plain render; possibly
turned a little) and below lies the ground (paving tiles, asphalt, crossing stripes,
concrete slabs). Everything is a function of the world point a ray hits, so the same camera
shows the same place in every image, seen past a different person at a different spot.
No photo is used: textures are value noise, tiles and stripes.

Each camera also has its light: a sun direction, an ambient level, a colour tint, an exposure,
and a sensor: blur and noise, as a person detector's crops from that camera would have.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NUM_CAMERAS = 6

WALL_STYLES = ("bricks", "panels", "windows", "plain", "stripes")
GROUND_STYLES = ("tiles", "asphalt", "crossing", "slabs")


@dataclass(frozen=True)
class CameraSpec:
    """One camera's placement, light and surroundings (all in its world frame, metres).

    Attributes:
        cam: 1-based camera number (the ``cC`` of a Market-1501 name).
        height: camera height above the ground.
        distance: (near, far) range of the walkway's distance along ``-z``.
        lateral: half width of the walkway along ``x``.
        walk_axis: main walking direction (radians about ``y``; 0 = towards the camera).
        wall_distance: distance of the wall plane from the camera (beyond ``distance[1]``).
        wall_yaw: turn of the wall's normal away from ``+z`` (radians).
        wall_style, ground_style: names from :data:`WALL_STYLES`, :data:`GROUND_STYLES`.
        wall_colors: (2, 3) base and accent colour of the wall, rgb in [0, 1].
        ground_colors: (2, 3) base and accent colour of the ground.
        texture_scale: (2,) metres per pattern unit of the wall and the ground.
        light_dir: (3,) unit vector towards the light.
        light_color: (3,) rgb multiplier of the direct light.
        ambient: ambient light level (times ``ambient_color``).
        ambient_color: (3,) rgb of the ambient light.
        exposure: overall gain.
        blur: Gaussian blur sigma range (output pixels).
        noise: sensor noise standard deviation (0-255 scale).
        seed: integer that keys the camera's value noise.
        saturation: colour saturation of the sensor (1: as lit; below: washed out).
        contrast: contrast about mid-grey (1: as lit).
    """

    cam: int
    height: float
    distance: tuple[float, float]
    lateral: float
    walk_axis: float
    wall_distance: float
    wall_yaw: float
    wall_style: str
    ground_style: str
    wall_colors: np.ndarray
    ground_colors: np.ndarray
    texture_scale: np.ndarray
    light_dir: np.ndarray
    light_color: np.ndarray
    ambient: float
    ambient_color: np.ndarray
    exposure: float
    blur: tuple[float, float]
    noise: float
    seed: int
    saturation: float = 1.0
    contrast: float = 1.0


_WALL_PALETTE = np.array([
    [0.62, 0.36, 0.28], [0.72, 0.70, 0.66], [0.55, 0.55, 0.58], [0.80, 0.76, 0.64],
    [0.42, 0.45, 0.50], [0.66, 0.58, 0.48], [0.30, 0.33, 0.38], [0.85, 0.84, 0.80],
    [0.48, 0.52, 0.44], [0.70, 0.52, 0.40],
], dtype=np.float32)
_GROUND_PALETTE = np.array([
    [0.45, 0.45, 0.46], [0.55, 0.52, 0.48], [0.32, 0.32, 0.34], [0.60, 0.58, 0.55],
    [0.50, 0.44, 0.40], [0.40, 0.42, 0.40],
], dtype=np.float32)
_TINTS = np.array([
    [1.00, 0.97, 0.90], [0.92, 0.96, 1.00], [1.00, 1.00, 1.00], [1.00, 0.92, 0.82],
    [0.95, 1.00, 0.95], [0.90, 0.92, 1.00],
], dtype=np.float32)


def _jitter_color(rng: np.random.Generator, base: np.ndarray, amount: float) -> np.ndarray:
    return np.clip(base * rng.uniform(1 - amount, 1 + amount, 3), 0.02, 0.98).astype(np.float32)


def sample_camera(rng: np.random.Generator, cam: int) -> CameraSpec:
    """Draw camera ``cam`` (1-based) from ``rng``: placement, light, surroundings."""
    height = float(rng.uniform(2.2, 5.5))
    near = float(rng.uniform(4.0, 6.5))
    far = near + float(rng.uniform(2.0, 5.0))
    lateral = float(rng.uniform(1.0, 2.5))
    walk_axis = float(rng.uniform(0, np.pi))
    wall_distance = far + float(rng.uniform(0.8, 3.5))
    wall_yaw = float(rng.uniform(-0.5, 0.5))
    wall_style = WALL_STYLES[(cam - 1 + int(rng.integers(0, 2))) % len(WALL_STYLES)]
    ground_style = GROUND_STYLES[int(rng.integers(0, len(GROUND_STYLES)))]
    wall_base = _WALL_PALETTE[int(rng.integers(0, len(_WALL_PALETTE)))]
    wall_accent = _WALL_PALETTE[int(rng.integers(0, len(_WALL_PALETTE)))]
    ground_base = _GROUND_PALETTE[int(rng.integers(0, len(_GROUND_PALETTE)))]
    wall_colors = np.stack([_jitter_color(rng, wall_base, 0.12),
                            _jitter_color(rng, wall_accent, 0.2)])
    ground_colors = np.stack([_jitter_color(rng, ground_base, 0.1),
                              _jitter_color(rng, np.minimum(ground_base * 1.3, 0.9), 0.1)])
    texture_scale = np.array([rng.uniform(0.8, 1.3), rng.uniform(0.6, 1.4)], np.float32)
    elevation = rng.uniform(0.5, 1.2)
    azimuth = rng.uniform(-np.pi, np.pi)
    light_dir = np.array([np.cos(elevation) * np.sin(azimuth), np.sin(elevation),
                          np.cos(elevation) * np.cos(azimuth)], dtype=np.float32)
    tint = _TINTS[(cam - 1) % len(_TINTS)] * rng.uniform(0.96, 1.04, 3)
    light_color = (tint * rng.uniform(0.55, 0.8)).astype(np.float32)
    ambient = float(rng.uniform(0.35, 0.55))
    ambient_color = (tint * rng.uniform(0.92, 1.08, 3)).astype(np.float32)
    exposure = float(rng.uniform(0.9, 1.15))
    blur_lo = float(rng.uniform(0.25, 0.55))
    blur = (blur_lo, blur_lo + float(rng.uniform(0.2, 0.5)))
    noise = float(rng.uniform(1.0, 4.0))
    seed = int(rng.integers(0, 2**31 - 1))
    saturation = float(rng.uniform(0.65, 1.1))
    contrast = float(rng.uniform(0.8, 1.1))
    return CameraSpec(cam, height, (near, far), lateral, walk_axis, wall_distance, wall_yaw,
                      wall_style, ground_style, wall_colors, ground_colors, texture_scale,
                      light_dir, light_color, ambient, ambient_color, exposure, blur, noise,
                      seed, saturation, contrast)


# --------------------------------------------------------------------------- value noise


def _hash01(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random value in [0, 1] for each integer lattice point."""
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263
         + (seed % 100003) * 2246822519) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    h ^= h >> 16
    return (h & 0xFFFF).astype(np.float32) * np.float32(1 / 65535)


def value_noise(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Smooth 2-D value noise in [0, 1], same shape as ``x`` and ``y`` (lattice spacing 1)."""
    x0 = np.floor(x)
    y0 = np.floor(y)
    fx = (x - x0).astype(np.float32)
    fy = (y - y0).astype(np.float32)
    fx = fx * fx * (3 - 2 * fx)
    fy = fy * fy * (3 - 2 * fy)
    ix, iy = x0.astype(np.int64), y0.astype(np.int64)
    a = _hash01(ix, iy, seed)
    b = _hash01(ix + 1, iy, seed)
    c = _hash01(ix, iy + 1, seed)
    d = _hash01(ix + 1, iy + 1, seed)
    return (a + (b - a) * fx) * (1 - fy) + (c + (d - c) * fx) * fy


def fbm(x: np.ndarray, y: np.ndarray, seed: int, octaves: int = 2) -> np.ndarray:
    """Sum of ``octaves`` value-noise layers (each twice as fine, half as strong), in [0, 1]."""
    total = np.zeros(np.shape(x), np.float32)
    weight, norm = 1.0, 0.0
    for o in range(octaves):
        total += weight * value_noise(x * 2**o, y * 2**o, seed + 7919 * o)
        norm += weight
        weight *= 0.5
    return total / norm


# --------------------------------------------------------------------------- surroundings


def _frac(x: np.ndarray) -> np.ndarray:
    return x - np.floor(x)


def _ground_albedo(cam: CameraSpec, x: np.ndarray, z: np.ndarray) -> np.ndarray:
    """(P, 3) ground colour at world points ``(x, 0, z)``."""
    base, accent = cam.ground_colors
    s = float(cam.texture_scale[1])
    grain = fbm(x * 6.0, z * 6.0, cam.seed + 1)[:, None]
    if cam.ground_style == "tiles":
        u, v = x / (0.45 * s), z / (0.45 * s)
        tile = _hash01(np.floor(u).astype(np.int64), np.floor(v).astype(np.int64), cam.seed)
        col = base * (0.85 + 0.3 * tile[:, None])
        grout = (np.minimum(_frac(u), _frac(v)) < 0.05)[:, None]
        col = np.where(grout, base * 0.6, col)
    elif cam.ground_style == "slabs":
        v = z / (1.1 * s)
        row = np.floor(v)
        u = x / (1.1 * s) + 0.5 * (row % 2)
        slab = _hash01(np.floor(u).astype(np.int64), row.astype(np.int64), cam.seed)
        col = base + (accent - base) * (0.3 * slab[:, None])
        seam = (np.minimum(_frac(u), _frac(v)) < 0.015)[:, None]
        col = np.where(seam, base * 0.55, col)
    elif cam.ground_style == "crossing":
        paint = (_frac(x / (0.9 * s)) < 0.5)[:, None]
        col = np.where(paint, np.float32([0.82, 0.82, 0.80]), base * 0.75)
    else:  # asphalt with a painted line
        col = base * (0.8 + 0.4 * fbm(x * 20.0, z * 20.0, cam.seed + 2)[:, None])
        line = (np.abs(z + cam.distance[1] + 0.8) < 0.08)[:, None]
        col = np.where(line, np.float32([0.85, 0.80, 0.55]), col)
    return col * (0.85 + 0.3 * grain)


def _wall_albedo(cam: CameraSpec, a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(P, 3) wall colour at wall coordinates ``a`` (along the wall) and height ``y``."""
    base, accent = cam.wall_colors
    s = float(cam.texture_scale[0])
    stain = fbm(a * 1.5, y * 1.5, cam.seed + 3)[:, None]
    if cam.wall_style == "bricks":
        v = y / (0.085 * s)
        row = np.floor(v)
        u = a / (0.24 * s) + 0.5 * (row % 2)
        brick = _hash01(np.floor(u).astype(np.int64), row.astype(np.int64), cam.seed)
        col = base * (0.8 + 0.35 * brick[:, None])
        mortar = ((_frac(v) < 0.12) | (_frac(u) < 0.05))[:, None]
        col = np.where(mortar, np.float32([0.72, 0.70, 0.66]), col)
    elif cam.wall_style == "panels":
        u = a / (1.3 * s)
        panel = (np.floor(u) % 2)[:, None]
        col = base + (accent - base) * panel
        seam = (_frac(u) < 0.02)[:, None]
        col = np.where(seam, base * 0.4, col)
        col = np.where((y < 0.35)[:, None], accent * 0.6, col)
    elif cam.wall_style == "windows":
        u = _frac(a / (2.2 * s))
        floor_v = _frac(y / 3.2)
        glass = ((u > 0.15) & (u < 0.85) & (floor_v > 0.28) & (floor_v < 0.85))[:, None]
        reflect = fbm(a * 0.8, y * 0.8, cam.seed + 4)[:, None]
        col = np.where(glass, np.float32([0.12, 0.16, 0.2]) * (0.7 + reflect), base)
        frame = glass & ((np.abs(u - 0.5) < 0.012)[:, None])
        col = np.where(frame, base * 0.5, col)
    elif cam.wall_style == "stripes":
        band = (np.floor(y / (0.45 * s)) % 2)[:, None]
        col = base + (accent - base) * band
    else:  # plain render with a plinth
        col = np.where((y < 0.5)[:, None], accent * 0.8, base)
    return col * (0.8 + 0.35 * stain)


def background(cam: CameraSpec, origin: np.ndarray, dirs: np.ndarray,
               shadow_xz: np.ndarray) -> np.ndarray:
    """Lit colour of the surroundings along each ray.

    Args:
        cam: the camera whose ground and wall the rays see.
        origin: (3,) camera centre in its world frame.
        dirs: (P, 3) ray directions (any length).
        shadow_xz: (2,) ground point under the person (a soft shadow is cast there).

    Returns:
        (P, 3) float32 rgb (linear, roughly [0, 1.5]).
    """
    dirs = dirs.astype(np.float32)
    inf = np.float32(np.inf)
    with np.errstate(divide="ignore", invalid="ignore"):
        t_ground = np.where(dirs[:, 1] < -1e-6, -origin[1] / dirs[:, 1], inf)
        normal = np.array([np.sin(cam.wall_yaw), 0.0, np.cos(cam.wall_yaw)], np.float32)
        plane_point = np.array([0.0, 0.0, -cam.wall_distance], np.float32)
        denom = dirs @ normal
        t_wall = np.where(denom < -1e-6, ((plane_point - origin) @ normal) / denom, inf)
    hit_wall = t_wall < t_ground
    t = np.minimum(t_ground, t_wall)
    sky = ~np.isfinite(t)
    t = np.where(sky, 0.0, t)
    pts = origin + t[:, None] * dirs

    out = np.empty((len(dirs), 3), np.float32)
    light_dir, ambient = cam.light_dir, cam.ambient * cam.ambient_color
    ground = ~hit_wall & ~sky
    if ground.any():
        g = pts[ground]
        col = _ground_albedo(cam, g[:, 0], g[:, 2])
        # A soft contact shadow, pushed away from the light.
        shift = -light_dir[[0, 2]] / max(float(light_dir[1]), 0.3) * 0.35
        d2 = ((g[:, 0] - shadow_xz[0] - shift[0]) ** 2 + (g[:, 2] - shadow_xz[1] - shift[1]) ** 2)
        occlusion = 1.0 - 0.55 * np.exp(-d2 / (2 * 0.28**2))
        direct = cam.light_color * max(float(light_dir[1]), 0.0)
        out[ground] = col * (ambient + direct * occlusion[:, None])
    if hit_wall.any():
        w = pts[hit_wall]
        along = w[:, 0] * normal[2] - w[:, 2] * normal[0]
        col = _wall_albedo(cam, along, w[:, 1])
        direct = cam.light_color * max(float(light_dir @ normal), 0.0)
        out[hit_wall] = col * (ambient + direct)
    if sky.any():
        up = np.clip(dirs[sky, 1] / np.linalg.norm(dirs[sky], axis=1), 0, 1)[:, None]
        out[sky] = np.float32([0.75, 0.8, 0.85]) + up * np.float32([-0.2, -0.1, 0.05])
    return out
