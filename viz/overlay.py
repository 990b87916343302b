"""2D images for the lifting panel: the crop with the person mask, the fitted body's outline,
the lifted pixels and the skeleton, and match thumbnails with a coloured frame."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

#: MediaPipe Pose connections drawn as the skeleton (landmark index pairs).
SKELETON = [(11, 12), (11, 13), (13, 15), (12, 14), (14, 16), (11, 23), (12, 24), (23, 24),
            (23, 25), (25, 27), (24, 26), (26, 28), (27, 31), (28, 32), (27, 29), (28, 30),
            (0, 2), (0, 5), (2, 7), (5, 8)]

#: The overlay's colours (RGB), named as the legend names them (``ui.text.lifting_legend``):
#: the person mask's outline, the fitted body's outline, the skeleton's bones and joints.
#: The lifted pixels keep their own colours; the background (not lifted) is dimmed to grey.
OVERLAY_COLOURS = {"mask": (0, 150, 255), "body": (255, 215, 0), "bones": (235, 40, 40),
                   "joints": (30, 210, 70)}
#: How bright a background pixel is kept (its grey level times this).
BACKGROUND_KEEP = 0.45


def _grow(mask: np.ndarray, steps: int) -> np.ndarray:
    """``mask`` dilated by ``steps`` pixels (4-neighbourhood)."""
    out = mask.copy()
    for _ in range(steps):
        grown = out.copy()
        grown[1:] |= out[:-1]
        grown[:-1] |= out[1:]
        grown[:, 1:] |= out[:, :-1]
        grown[:, :-1] |= out[:, 1:]
        out = grown
    return out


def _enlarge(mask: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(mask, scale, 0), scale, 1)


def lifting_overlay(image: np.ndarray, mask: np.ndarray | None, foreground: np.ndarray,
                    landmarks: np.ndarray | None, body: np.ndarray | None = None,
                    scale: int = 4, line: int = 3) -> Image.Image:
    """(H, W, 3) crop -> an enlarged picture (``scale`` times) of how it was lifted:

    - the lifted pixels (``foreground``) in their own colours, the background darkened to grey;
    - the person mask (``mask`` > 0.5) outlined in blue, just outside its edge;
    - the fitted body (``body``: its ray-cast pixels, ``LiftResult.body_pixels``) outlined in
      yellow, just inside its edge (so where the two edges meet both show);
    - the 2D skeleton: red bones, green joints (hollow where MediaPipe's visibility < 0.5).

    Outlines are ``line`` pixels of the enlarged picture wide. Colours: :data:`OVERLAY_COLOURS`.
    """
    h, w = image.shape[:2]
    base = image.astype(np.float32)
    base = np.where(foreground[..., None], base, BACKGROUND_KEEP * base.mean(-1, keepdims=True))
    big = _enlarge(base.clip(0, 255).astype(np.uint8), scale)
    if mask is not None:
        m = _enlarge(np.asarray(mask) > 0.5, scale)
        big[_grow(m, line) & ~m] = OVERLAY_COLOURS["mask"]
    if body is not None:
        b = _enlarge(np.asarray(body, bool), scale)
        big[b & _grow(~b, line)] = OVERLAY_COLOURS["body"]
    img = Image.fromarray(big)
    if landmarks is not None:
        draw = ImageDraw.Draw(img)
        pts = landmarks[:, :2] * scale
        for a, b in SKELETON:
            draw.line([tuple(pts[a]), tuple(pts[b])], fill=OVERLAY_COLOURS["bones"], width=3)
        for (x, y), vis in zip(pts, landmarks[:, 2], strict=True):
            r = 4
            colour = OVERLAY_COLOURS["joints"]
            draw.ellipse([x - r, y - r, x + r, y + r], outline=colour,
                         fill=colour if vis > 0.5 else None, width=2)
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
