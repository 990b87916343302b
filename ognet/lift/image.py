"""Reading any image a user may give into the 128x64 RGB crop the lifting works on."""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

#: The re-id crop: (height, width), as in the paper.
CROP_SIZE = (128, 64)
#: Smallest accepted input (height, width) and the largest pixel count (decompression bombs).
MIN_SIZE = (16, 8)
MAX_PIXELS = 40_000_000


class LiftError(ValueError):
    """The input cannot be lifted; the message is written for a person."""


class NoPersonError(LiftError):
    """The photo shows no person (raised by ``Lifter.__call__(image, require_person=True)``)."""


def load_image(image) -> Image.Image:
    """Open ``image`` (path, bytes, file object, PIL image or (H, W[, C]) array) as RGB.

    EXIF rotation is applied, an animated image gives its first frame, 16-bit and palette
    images are converted, transparency is composited on white. Raises :class:`LiftError`.
    """
    if isinstance(image, np.ndarray):
        return _from_array(image)
    if isinstance(image, Image.Image):
        img = image
    else:
        img = _open(image)
    _check_size(img.size)
    try:
        img = ImageOps.exif_transpose(img)
        img.seek(0)  # the first frame of an animated image
        img.load()
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise LiftError(f"The image file is damaged or truncated ({exc}).") from exc
    return _to_rgb(img)


def _open(source) -> Image.Image:
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise LiftError(f"No such file: {path.name}")
        if path.stat().st_size == 0:
            raise LiftError(f"{path.name} is empty (0 bytes).")
        name = path.name
    elif isinstance(source, (bytes, bytearray)) or hasattr(source, "read"):
        name = "The upload"
    else:
        kind = type(source).__name__
        raise LiftError(f"Cannot read an image from an object of type {kind}: give a file "
                        "path, bytes, a PIL image or an (H, W, 3) array.")
    if isinstance(source, (bytes, bytearray)):
        if not source:
            raise LiftError("The upload is empty (0 bytes).")
        source = io.BytesIO(bytes(source))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:  # > 89 MP
        raise LiftError(f"{name} is too large to process safely (over {MAX_PIXELS:,} "
                        "pixels).") from exc
    except UnidentifiedImageError as exc:
        raise LiftError(f"{name} is not an image PIL can read (JPEG, PNG, WebP, ...).") from exc
    except OSError as exc:
        raise LiftError(f"{name} could not be read ({exc}).") from exc


def _check_size(size: tuple[int, int]) -> None:
    w, h = size
    if w * h > MAX_PIXELS:
        raise LiftError(f"The image is too large to process safely ({w}x{h} pixels; the "
                        f"limit is {MAX_PIXELS:,}).")
    if h < MIN_SIZE[0] or w < MIN_SIZE[1]:
        raise LiftError(f"The image is too small ({w}x{h} pixels); a pedestrian crop needs at "
                        f"least {MIN_SIZE[1]}x{MIN_SIZE[0]}.")


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 255.0
        img = Image.fromarray((arr / top * 255 + 0.5).astype(np.uint8))
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img, mask=img.getchannel("A"))
        return background
    return img.convert("RGB")


def _from_array(arr: np.ndarray) -> Image.Image:
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise LiftError(f"An image array must be (H, W), (H, W, 3) or (H, W, 4); got "
                        f"{arr.shape}.")
    _check_size((arr.shape[1], arr.shape[0]))
    if arr.dtype.kind not in "biuf":
        raise LiftError(f"An image array must hold numbers; got dtype {arr.dtype}.")
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise LiftError("The image array contains NaN or infinite values.")
    if arr.dtype != np.uint8:
        top = float(arr.max()) if arr.size else 0.0
        if arr.dtype.kind in "fb" and top <= 1.0:
            factor = 255.0  # floats (or booleans) in [0, 1]
        elif top > 255:
            factor = 255.0 / 65535.0  # 16-bit values
        else:
            factor = 1.0
        arr = np.clip(arr.astype(np.float64) * factor + 0.5, 0, 255).astype(np.uint8)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    return _to_rgb(Image.fromarray(arr))


def to_crop(img: Image.Image) -> np.ndarray:
    """RGB image -> (128, 64, 3) uint8 crop (bilinear, aspect ratio not preserved, like the
    re-id datasets' resizing)."""
    return np.asarray(img.resize((CROP_SIZE[1], CROP_SIZE[0]), Image.BILINEAR), dtype=np.uint8)
