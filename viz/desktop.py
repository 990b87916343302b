"""Open3D's desktop viewer for a cloud, in a child process (needs a display)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def display_available() -> str | None:
    """``None`` when a desktop display exists, else why the Open3D viewer cannot open."""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return None
    return "Open3D viewer unavailable: no desktop display (DISPLAY / WAYLAND_DISPLAY unset)."


def open_in_open3d(points: np.ndarray, title: str = "OG-Net query") -> str:
    """Show an (N, 6) cloud in Open3D's desktop viewer; returns a status line."""
    why = display_available()
    if why:
        return why
    from ognet.pointcloud import save_ply

    path = Path(tempfile.mkdtemp(prefix="ognet_o3d_")) / "cloud.ply"
    save_ply(path, points)
    code = ("import sys, open3d as o3d; "
            "o3d.visualization.draw_geometries([o3d.io.read_point_cloud(sys.argv[1])], "
            "window_name=sys.argv[2], width=640, height=960)")
    subprocess.Popen([sys.executable, "-c", code, str(path), title],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                     start_new_session=True)
    return f"Opened {len(points)} points in the Open3D viewer."
