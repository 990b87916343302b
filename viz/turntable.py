"""A turntable of a cloud for slides: the cloud turning once about its vertical axis, rendered
without a browser (matplotlib's Agg canvas) and saved as a looping animated GIF (Pillow).

Matplotlib draws a 3D scatter depth-sorted (far points first), which is all a point cloud
needs; at 360x540 a frame of 8192 points takes some 30-60 ms on one CPU core, so the 36
frames of one turn are made in a few seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

#: Frames of one turn, and how long each is shown: 36 x 80 ms, a turn in about 3 s.
FRAMES, FRAME_MS = 36, 80


def turntable_frames(points: np.ndarray, frames: int = FRAMES, size: tuple[int, int] = (480, 480),
                     elevation: float = 8.0, point_size: float | None = None,
                     background: str = "white", zoom: float = 1.0) -> list[Image.Image]:
    """``frames`` pictures of an (N, 6) cloud (xyz in the frame of ``ognet.lift``: x right,
    y up, z towards the camera; rgb in [0, 1]) seen from a camera circling it once, starting
    in front, ``elevation`` degrees above.

    Args:
        size: (width, height) of each frame in pixels.
        point_size: marker area in points^2 (None: :func:`_touching_size`, the points of
            a lifted photo touching without a gap).
        background: any matplotlib colour.
        zoom: matplotlib's zoom of the 3D box (1: the box's default size in the frame).
    Returns:
        RGB ``PIL.Image`` s of ``size``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    points = np.asarray(points, np.float32)
    if points.ndim != 2 or points.shape[1] < 6 or not len(points):
        raise ValueError(f"a turntable needs an (N, 6) cloud, got shape {points.shape}")
    xyz = points[:, :3] - (points[:, :3].max(0) + points[:, :3].min(0)) / 2
    # matplotlib's z is up: the cloud's (x, y, z) are drawn as (x, -z, y), so that
    # azimuth -90 (matplotlib's view from -y) looks at the cloud from the front (+z)
    x, y, z = xyz[:, 0], -xyz[:, 2], xyz[:, 1]
    width, height = size
    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor=background)
    canvas = FigureCanvasAgg(fig)  # its own canvas: no pyplot, no global backend
    ax = fig.add_axes((0, 0, 1, 1), projection="3d", facecolor=background)
    if point_size is None:
        point_size = _touching_size(xyz, min(width, height) * zoom, dpi)
    ax.scatter(x, y, z, c=np.clip(points[:, 3:6], 0, 1), s=point_size, marker="o",
               linewidths=0, depthshade=False)
    # a box around the cloud, as wide as its widest turn: it keeps the cloud's proportions
    # and holds it inside the frame at every angle
    radius, half_height = float(np.hypot(x, y).max()), float(np.abs(z).max())
    ax.set_xlim(-radius, radius)
    ax.set_ylim(-radius, radius)
    ax.set_zlim(-half_height, half_height)
    ax.set_box_aspect((radius, radius, half_height), zoom=zoom)
    ax.set_proj_type("persp", focal_length=0.6)
    ax.set_axis_off()
    out = []
    for i in range(frames):
        ax.view_init(elev=elevation, azim=-90 + 360 * i / frames, roll=0)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        out.append(Image.fromarray(rgba[..., :3].copy()))
    return out


def _touching_size(xyz: np.ndarray, frame_px: float, dpi: int) -> float:
    """Marker area (points^2) at which neighbouring points touch: a diameter of 1.3 x the
    median nearest-neighbour distance, the cloud's largest extent spanning about 0.7 of
    ``frame_px`` (matplotlib's 3D box at ``zoom`` 1 fills about that)."""
    from scipy.spatial import cKDTree

    spacing = float(np.median(cKDTree(xyz).query(xyz, k=2)[0][:, 1]))
    px_per_metre = 0.7 * frame_px / max(float(np.ptp(xyz, axis=0).max()), 1e-6)
    diameter_pt = 1.3 * spacing * px_per_metre * 72 / dpi
    return float(np.clip(diameter_pt ** 2, 0.5, 40.0))


def save_turntable(points: np.ndarray, path, frame_ms: int = FRAME_MS, **kwargs) -> Path:
    """Write the :func:`turntable_frames` of ``points`` to ``path`` as a looping GIF (one
    shared 256-colour palette, ``frame_ms`` per frame); ``kwargs`` go to
    :func:`turntable_frames`. Returns the path."""
    path = Path(path)
    frames = turntable_frames(points, **kwargs)
    # one palette for every frame, from a strip of frames all round the turn
    strip = Image.fromarray(np.concatenate([np.asarray(f) for f in frames[::6]], axis=0))
    palette = strip.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    frames = [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=frame_ms, loop=0,
                   optimize=False, disposal=1)
    return path
