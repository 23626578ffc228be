"""Keypoints of the synthetic shapes: the centre of circles and the corners of the polygons.

Every shape class owns its own slots of one K = 12 keypoint layout (COCO's metric needs one
keypoint set per dataset); an instance labels its class's slots and leaves the others unlabelled:

===========  ==========================================================================
circle       ``circle_center``
square       ``square_top_left``, ``square_top_right``, ``square_bottom_right``,
             ``square_bottom_left``: the corner whose direction from the centre falls in
             that image quadrant (x right, y down)
triangle     ``triangle_top``, ``triangle_bottom_right``, ``triangle_bottom_left``: the corner
             in that 120-degree sector around the centre (top: -150 to -30 degrees)
lshape       ``lshape_elbow`` (outer corner of the bend), ``lshape_inner`` (inner corner),
             ``lshape_left_tip`` / ``lshape_right_tip``: the outer corners of the two arm ends,
             left and right as seen from the elbow looking at the inner corner
===========  ==========================================================================

The names depend only on what the image shows, so the order is fixed under any rotation, and a
horizontal flip maps each name to its ``left``/``right`` twin (the flip map); the sectors are
symmetric about the vertical axis. A keypoint under a shape drawn later is labelled but not visible
(v = 1, COCO's "occluded"); visible ones have v = 2. Coordinates are pixel indices, as in COCO.

OKS sigmas (:data:`SHAPES_OKS_SIGMAS`): 0.05 for every corner, a sharp feature, about twice COCO's
eyes and nose; 0.07 for the circle's centre, which has no local feature and is judged from the
outline, often partly hidden.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .shapes_draw import CLASS_NAMES, shape_vertices

__all__ = ["SHAPES_KEYPOINT_NAMES", "SHAPES_OKS_SIGMAS", "image_keypoints", "shape_keypoints", "shapes_keypoint_category",
           "shapes_keypoint_metadata"]

_SLOTS = {
    "circle": ("circle_center",),
    "square": ("square_top_left", "square_top_right", "square_bottom_right", "square_bottom_left"),
    "triangle": ("triangle_top", "triangle_bottom_right", "triangle_bottom_left"),
    "lshape": ("lshape_elbow", "lshape_inner", "lshape_left_tip", "lshape_right_tip"),
}
SHAPES_KEYPOINT_NAMES = tuple(n for c in CLASS_NAMES for n in _SLOTS[c])
SHAPES_OKS_SIGMAS = tuple(0.07 if n == "circle_center" else 0.05 for n in SHAPES_KEYPOINT_NAMES)
# Skeleton edges, for drawing: each polygon's outline through its keypoints.
_EDGES = (("square_top_left", "square_top_right"), ("square_top_right", "square_bottom_right"),
          ("square_bottom_right", "square_bottom_left"), ("square_bottom_left", "square_top_left"),
          ("triangle_top", "triangle_bottom_right"), ("triangle_bottom_right", "triangle_bottom_left"),
          ("triangle_bottom_left", "triangle_top"), ("lshape_elbow", "lshape_left_tip"),
          ("lshape_elbow", "lshape_right_tip"))


def shapes_keypoint_metadata() -> dict:
    """The shapes keypoint datasets' metadata: names, flip map, skeleton and OKS sigmas."""
    names = SHAPES_KEYPOINT_NAMES
    flip_map = [(n, n.replace("left", "right")) for n in names if "left" in n]
    return {"keypoint_names": list(names), "keypoint_flip_map": flip_map,
            "keypoint_connection_rules": list(_EDGES), "keypoint_oks_sigmas": list(SHAPES_OKS_SIGMAS)}


def _angle(dx: float, dy: float) -> float:
    """Direction in degrees in [-180, 180), x right and y down (so -90 is straight up)."""
    degrees = math.degrees(math.atan2(dy, dx))
    return degrees - 360.0 if degrees >= 180.0 else degrees


# Where each polygon's first slot starts, in degrees: slots follow clockwise on screen from there
# (square: quadrants from straight left; triangle: 120-degree sectors, the top one from -150).
_FIRST_SECTOR = {"square": -180.0, "triangle": -150.0}


def _named_corners(name: str, vertices: np.ndarray, center: tuple[float, float]) -> dict[int, np.ndarray]:
    """Slot (index within the class) -> vertex ``(x, y)``."""
    if name == "lshape":
        # _polygon's outline: arm tip, arm end, inner corner, arm end, arm tip, elbow
        elbow, inner, tip_a, tip_b = vertices[5], vertices[2], vertices[0], vertices[4]
        # Seen from the elbow towards the inner corner, the tip on the left is counter-clockwise on
        # screen (y down): a negative cross product of (view, tip - elbow).
        view = inner - elbow
        cross = view[0] * (tip_a - elbow)[1] - view[1] * (tip_a - elbow)[0]
        left, right = (tip_a, tip_b) if cross < 0 else (tip_b, tip_a)
        return {0: elbow, 1: inner, 2: left, 3: right}
    # One corner per sector, as the corners are as far apart as the sectors are wide: ranking them
    # by angle from the first sector's start names them, without a tie at a sector's edge.
    start = _FIRST_SECTOR[name]
    angles = [(_angle(x - center[0], y - center[1]) - start) % 360.0 for x, y in vertices]
    return {slot: vertices[i] for slot, i in enumerate(np.argsort(angles, kind="stable"))}


def shape_keypoints(name: str, *, center: tuple[float, float], extent: float, angle: float,
                    height: int, width: int, occluders: np.ndarray | None = None) -> list[float]:
    """One shape's COCO ``keypoints``: K = 12 ``(x, y, v)`` triplets, its own class's slots labelled.

    Args:
        name: a class of :data:`~maskrcnn_ext.data.shapes_draw.CLASS_NAMES`.
        center, extent, angle: the shape as given to :func:`~maskrcnn_ext.data.shapes_draw.shape_mask`.
        height, width: image size; keypoints are clipped into it.
        occluders: ``(H, W)`` bool, the shapes drawn on top of this one (None: nothing).

    Returns:
        A flat list of 36 floats; v is 2 (visible), 1 (under an occluder) or 0 (another class's slot).
    """
    if name == "circle":
        points = {0: np.asarray(center, dtype=np.float64)}
    else:
        vertices = shape_vertices(name, center=center, extent=extent, angle=angle)
        points = _named_corners(name, vertices, center)
    flat = [0.0] * (3 * len(SHAPES_KEYPOINT_NAMES))
    first = SHAPES_KEYPOINT_NAMES.index(_SLOTS[name][0])
    for slot, (x, y) in points.items():
        x, y = float(np.clip(x, 0, width - 1)), float(np.clip(y, 0, height - 1))
        hidden = occluders is not None and bool(occluders[int(round(y)), int(round(x))])
        flat[3 * (first + slot) : 3 * (first + slot) + 3] = [round(x, 2), round(y, 2), 1.0 if hidden else 2.0]
    return flat


def image_keypoints(classes: list[int], visible: list[np.ndarray], geometries: list[dict[str, Any]], *,
                    height: int, width: int) -> list[list[float]]:
    """The keypoints of one generated image's shapes, in drawing order.

    Args:
        classes: class index of each shape.
        visible: ``(H, W)`` bool visible part of each shape (later shapes hide earlier ones).
        geometries: ``center``, ``extent`` and ``angle`` each shape was drawn with.
        height, width: image size.

    Returns:
        Each shape's :func:`shape_keypoints`; those under a shape drawn after it are occluded (v = 1).
    """
    result = []
    for i, (cls, geometry) in enumerate(zip(classes, geometries)):
        # Every pixel a later shape covers is visible in the last shape drawn over it.
        later = np.logical_or.reduce(visible[i + 1 :]) if i + 1 < len(visible) else None
        result.append(shape_keypoints(CLASS_NAMES[cls], height=height, width=width, occluders=later, **geometry))
    return result


def shapes_keypoint_category() -> dict[str, Any]:
    """What a shapes json category gains: ``keypoints`` (names) and ``skeleton`` (1-based pairs)."""
    number = {n: i + 1 for i, n in enumerate(SHAPES_KEYPOINT_NAMES)}
    return {"keypoints": list(SHAPES_KEYPOINT_NAMES), "skeleton": [[number[a], number[b]] for a, b in _EDGES]}
