"""Read image files of any common mode as uint8 RGB arrays."""

from __future__ import annotations

import logging
import os

import numpy as np
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

__all__ = ["ImageReadError", "read_image", "to_rgb_uint8"]

_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
_UINT16_MAX = float(np.iinfo(np.uint16).max)
_INT32_MAX = float(np.iinfo(np.int32).max)


class ImageReadError(OSError):
    """An image file is missing, unreadable or truncated; the message names the path and reason."""


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[:, :, None], 3, axis=2)


def _scale_to_uint8(values: np.ndarray, full_scale: float) -> np.ndarray:
    # Scaling by the range (not clipping) keeps the relative contrast of high-bit-depth images.
    scaled = np.rint(values.astype(np.float64) * (255.0 / full_scale))
    return np.clip(scaled, 0, 255).astype(np.uint8)


def _int_image_to_uint8(arr: np.ndarray) -> np.ndarray:
    # Pillow often decodes 16-bit PNGs as mode "I" (int32); their values still live in the uint16
    # range, and scaling them by the int32 range would turn every such image black.
    if arr.size == 0 or (arr.min() >= 0 and arr.max() <= _UINT16_MAX):
        return _scale_to_uint8(arr, _UINT16_MAX)
    return _scale_to_uint8(np.clip(arr, 0, None), _INT32_MAX)


def _float_image_to_uint8(arr: np.ndarray) -> np.ndarray:
    arr = np.nan_to_num(arr, nan=0.0, posinf=0.0, neginf=0.0)
    if arr.size == 0 or (arr.min() >= 0.0 and arr.max() <= 1.0):
        return _scale_to_uint8(arr, 1.0)  # normalized intensities
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)  # already on the 8-bit scale


def to_rgb_uint8(img: Image.Image) -> np.ndarray:
    """Convert a PIL image of any mode to a uint8 RGB array.

    16-bit modes are scaled by 255/65535; mode ``"I"`` likewise when its values fit in 16 bits
    (otherwise by the int32 range); mode ``"F"`` by 255 when its values lie in [0, 1] (otherwise
    rounded and clipped). Alpha channels are dropped; palette, CMYK, bilevel and the other modes use
    Pillow's RGB conversion.

    Args:
        img: a loaded PIL image.

    Returns:
        array of shape (H, W, 3), dtype uint8, RGB order.
    """
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        gray = _scale_to_uint8(np.asarray(img).astype(np.uint16), _UINT16_MAX)
        return _gray_to_rgb(gray)
    if mode == "I":
        return _gray_to_rgb(_int_image_to_uint8(np.asarray(img, dtype=np.int64)))
    if mode == "F":
        return _gray_to_rgb(_float_image_to_uint8(np.asarray(img, dtype=np.float64)))
    if mode != "RGB":
        img = img.convert("RGB")
    return np.array(img, dtype=np.uint8)  # a copy: writable, independent of the PIL image


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB, applying its EXIF orientation.

    Args:
        path: image file path.

    Returns:
        array of shape (H, W, 3), dtype uint8, RGB order; H, W after EXIF orientation.

    Raises:
        ImageReadError: the file is missing, not an image, or truncated/corrupt.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f"cannot read image {path}: file does not exist")
    try:
        with Image.open(path) as img:
            img.load()  # decode now so truncation surfaces here rather than on first pixel access
            img = _apply_exif(img, path)
            arr = to_rgb_uint8(img)
    except ImageReadError:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
        raise ImageReadError(f"cannot read image {path}: {type(e).__name__}: {e}") from e
    return np.ascontiguousarray(arr) if arr.flags.writeable else arr.copy()


def _apply_exif(img: Image.Image, path: str) -> Image.Image:
    try:
        transposed = ImageOps.exif_transpose(img)
    except Exception as e:  # broken EXIF blocks are common in the wild; the pixels are still usable
        logger.warning("Ignoring unreadable EXIF orientation of %s: %s", path, e)
        return img
    return transposed if transposed is not None else img
