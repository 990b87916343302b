"""2D images for the lifting panel: the crop with the person mask and the skeleton, and
match thumbnails with a coloured frame."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: MediaPipe Pose connections drawn as the skeleton (landmark index pairs).
SKELETON = [(11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24),
            (23, 25), (25, 27), (24, 26), (26, 28), (27, 31), (28, 32), (27, 29), (28, 30),
            (0, 2), (0, 5), (2, 7), (5, 8)]


def lifting_overlay(image: np.ndarray, mask: np.ndarray | None, foreground: np.ndarray,
                    landmarks: np.ndarray | None, scale: int = 4) -> Image.Image:
    """(H, W, 3) crop -> an enlarged picture: person mask in blue, the pixels lifted onto the
    body outlined in yellow, the 2D skeleton in red/green (low-visibility joints hollow)."""
    h, w = image.shape[:2]
    base = image.astype(np.float32)
    if mask is not None:
        m = (mask > 0.5)[..., None]
        base = np.where(m, 0.6 * base + 0.4 * np.array([40, 110, 255]), base)
    edge = foreground ^ np.roll(foreground, 1, 0) | foreground ^ np.roll(foreground, 1, 1)
    base[edge] = [255, 220, 0]
    img = Image.fromarray(base.clip(0, 255).astype(np.uint8)).resize((w * scale, h * scale),
                                                                   Image.NEAREST)
    if landmarks is not None:
        draw = ImageDraw.Draw(img)
        pts = landmarks[:, :2] * scale
        for a, b in SKELETON:
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=(230, 30, 30), width=3)
        for (x, y), vis in zip(pts, landmarks[:, 2], strict=True):
            r = 4
            draw.ellipse([x - r, y - r, x + r, y + r], outline=(20, 200, 60),
                         fill=(20, 200, 60) if vis > 0.5 else None, width=2)
    return img


def framed(thumbnail: np.ndarray, colour: tuple[int, int, int] | None,
           width: int = 4) -> Image.Image:
    """A match thumbnail with a coloured frame (green: same identity, red: another)."""
    img = Image.fromarray(thumbnail).resize((thumbnail.shape[1] * 2, thumbnail.shape[0] * 2),
                                            Image.BILINEAR)
    if colour is not None:
        draw = ImageDraw.Draw(img)
        for i in range(width):
            draw.rectangle([i, i, img.width - 1 - i, img.height - 1 - i], outline=colour)
    return img
