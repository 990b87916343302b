"""The campus video: where it is, and its frames.

OpenCV's sample ``vtest.avi`` (795 frames, 768x576, 10 fps, MPEG-4 v3) is a static camera
looking down on a university campus where about ten people walk in every direction; it is
view 1 of PETS 2009 S2.L1, redistributed in OpenCV's ``samples/data``. Debian ships it in the
``opencv-doc`` package (``apt-get install opencv-doc``; ``scripts/setup.sh`` installs it)
under OpenCV's licence (Apache-2.0 AND BSD-3-Clause, ``/usr/share/doc/opencv-doc/copyright``).
Nothing is downloaded at run time: a missing video is an error that says how to install it.

Frames are decoded with OpenCV (``cv2.VideoCapture``) as (H, W, 3) uint8 BGR arrays.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import numpy as np

#: Where Debian's ``opencv-doc`` package puts the video.
DEFAULT_VIDEO = Path("/usr/share/doc/opencv-doc/examples/data/vtest.avi")


class CampusError(RuntimeError):
    """The campus video is missing or unreadable, or the labels do not fit it (a message for
    a person, no traceback needed)."""


def find_video(path: str | Path | None = None) -> Path:
    """The video to read: ``path`` when given, else :data:`DEFAULT_VIDEO`.

    Raises :class:`CampusError` saying how to get it when the file is not there.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise CampusError(f"{p}: video not found")
        return p
    if not DEFAULT_VIDEO.is_file():
        raise CampusError(
            f"{DEFAULT_VIDEO} not found: install Debian's opencv-doc package "
            "(`apt-get install -y opencv-doc`, which scripts/setup.sh does) or pass --video "
            "PATH to OpenCV's samples/data/vtest.avi")
    return DEFAULT_VIDEO


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (the labels name the exact video they were made on)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def iter_frames(path: str | Path, limit: int = 0, step: int = 1
                ) -> Iterator[tuple[int, np.ndarray]]:
    """``(index, frame)`` for every ``step``-th frame, the first ``limit`` frames (0: all).

    Frames are (H, W, 3) uint8 BGR. Raises :class:`CampusError` when OpenCV cannot open the
    file or decodes no frame from it.
    """
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise CampusError(f"{path}: OpenCV cannot open this video")
    try:
        index = 0
        while not limit or index < limit:
            ok, frame = cap.read()
            if not ok:
                break
            if index % step == 0:
                yield index, frame
            index += 1
    finally:
        cap.release()
    if index == 0:
        raise CampusError(f"{path}: no frame could be decoded")
