"""Drawing helpers for the synthetic shapes dataset: textured backgrounds and shape masks.

Everything takes an explicit ``numpy.random.Generator`` so a generated image depends only on its
seed. Shapes are rasterized without anti-aliasing so the drawn pixels and the mask are identical.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "CLASS_NAMES",
    "area_to_extent",
    "draw_background",
    "pick_contrasting_color",
    "shape_mask",
    "shape_radius",
    "shape_vertices",
]

CLASS_NAMES = ("circle", "square", "triangle", "lshape")

# Area of each shape relative to the square of its extent parameter (radius for the circle, side
# for the others); used to turn a target pixel area into a drawing size.
_AREA_FACTOR = {
    "circle": math.pi,  # extent = radius
    "square": 1.0,  # extent = side
    "triangle": math.sqrt(3.0) / 4.0,  # extent = side of the equilateral triangle
    "lshape": 0.75,  # extent = side of the bounding square; a quarter is cut out
}


def area_to_extent(name: str, area: float) -> float:
    """Return the extent parameter (radius or side, in pixels) that gives ``area`` pixels."""
    return math.sqrt(area / _AREA_FACTOR[name])


_COARSE = 8  # smooth background layers are drawn on a grid this many times coarser, then upsampled


def _smooth_field(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Linear two-color gradient plus low-frequency color noise, (H, W, 3) float32.

    Both layers are smooth, so they are computed on a coarse grid and upsampled; that is several
    times cheaper than evaluating them per pixel and looks the same.
    """
    gh, gw = height // _COARSE + 2, width // _COARSE + 2
    c0, c1 = rng.uniform(0, 255, size=(2, 3)).astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ys, xs = np.ogrid[0:gh, 0:gw]
    t = (xs * math.cos(angle) + ys * math.sin(angle)).astype(np.float32)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1.0)
    field = c0 + t[:, :, None] * (c1 - c0)
    cells = int(rng.integers(3, 7))
    noise = rng.uniform(-1.0, 1.0, size=(cells, cells)).astype(np.float32)
    field += 40.0 * cv2.resize(noise, (gw, gh), interpolation=cv2.INTER_CUBIC)[:, :, None]
    return cv2.resize(field, (width, height), interpolation=cv2.INTER_LINEAR)


def _stripes(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Sinusoidal stripes of random period and orientation, (H, W) in [-1, 1]."""
    angle = rng.uniform(0, math.pi)
    period = rng.uniform(8.0, 40.0)
    ys, xs = np.ogrid[0:height, 0:width]
    scale = 2 * math.pi / period
    phase = xs.astype(np.float32) * np.float32(math.cos(angle) * scale) + ys.astype(np.float32) * np.float32(
        math.sin(angle) * scale
    )
    return np.sin(phase)


def _blobs(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Soft random ellipses, (H, W) in [-1, 1]."""
    canvas = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(3, 9))):
        center = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        axes = (int(rng.integers(8, width // 3)), int(rng.integers(8, height // 3)))
        value = float(rng.uniform(-1.0, 1.0))
        cv2.ellipse(canvas, center, axes, float(rng.uniform(0, 180)), 0, 360, value, -1)
    return cv2.GaussianBlur(canvas, (0, 0), sigmaX=6.0)


def draw_background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """Draw a textured background: smooth gradient and noise + stripes or blobs + pixel noise.

    Returns:
        uint8 array (H, W, 3), RGB.
    """
    img = _smooth_field(rng, height, width)
    texture = _stripes(rng, height, width) if rng.random() < 0.5 else _blobs(rng, height, width)
    tint = rng.uniform(-1.0, 1.0, size=3).astype(np.float32)
    img += float(rng.uniform(10.0, 35.0)) * texture[:, :, None] * tint
    # Uniform pixel noise: several times cheaper to draw than Gaussian noise, and looks the same.
    img += 20.0 * (rng.random(size=img.shape, dtype=np.float32) - 0.5)
    return np.clip(img, 0, 255).astype(np.uint8)


def _rotate(points: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return points @ np.array([[c, s], [-s, c]], dtype=np.float64)


def _polygon(name: str, extent: float) -> np.ndarray:
    """Vertices of a shape centred on the origin, (P, 2) as (x, y)."""
    h = extent / 2.0
    if name == "square":
        return np.array([[-h, -h], [h, -h], [h, h], [-h, h]])
    if name == "triangle":
        r = extent / math.sqrt(3.0)  # circumradius of the equilateral triangle
        angles = np.array([-90.0, 30.0, 150.0]) * math.pi / 180.0
        return np.stack([r * np.cos(angles), r * np.sin(angles)], axis=1)
    if name == "lshape":
        return np.array([[-h, -h], [0, -h], [0, 0], [h, 0], [h, h], [-h, h]])
    raise ValueError(f"unknown polygon shape '{name}'")


def shape_vertices(name: str, *, center: tuple[float, float], extent: float, angle: float) -> np.ndarray:
    """Vertices of a polygon shape as drawn by :func:`shape_mask`, ``(P, 2)`` float ``(x, y)`` in
    pixel-index coordinates (pixel ``i``'s centre at ``i``), in the order of its outline."""
    return _rotate(_polygon(name, extent), angle) + np.asarray(center)


def shape_radius(name: str, extent: float) -> float:
    """Radius of the circle enclosing the shape, used to keep it inside the image."""
    return extent if name == "circle" else extent / math.sqrt(2.0)


def shape_mask(
    name: str, *, center: tuple[float, float], extent: float, angle: float, height: int, width: int
) -> np.ndarray:
    """Rasterize one shape.

    Args:
        name: one of :data:`CLASS_NAMES`.
        center: (x, y) in pixels.
        extent: radius (circle) or side (others) in pixels.
        angle: rotation in radians (ignored for circles).
        height, width: canvas size.

    Returns:
        bool array (H, W), True on the shape.
    """
    canvas = np.zeros((height, width), np.uint8)
    if name == "circle":
        cv2.circle(canvas, (int(round(center[0])), int(round(center[1]))), max(int(round(extent)), 1), 1, -1)
    else:
        pts = shape_vertices(name, center=center, extent=extent, angle=angle)
        cv2.fillPoly(canvas, [np.round(pts).astype(np.int32)], 1, lineType=cv2.LINE_8)
    return canvas.astype(bool)


def pick_contrasting_color(
    rng: np.random.Generator, local_mean: np.ndarray, min_distance: float = 110.0
) -> np.ndarray:
    """Random RGB color at least ``min_distance`` (Euclidean) away from ``local_mean``.

    Falls back to the color opposite the local mean when random draws keep landing close to it.

    Returns:
        uint8 array (3,).
    """
    for _ in range(16):
        color = rng.integers(0, 256, size=3)
        if np.linalg.norm(color - local_mean) >= min_distance:
            return color.astype(np.uint8)
    return (255 - local_mean).clip(0, 255).astype(np.uint8)
