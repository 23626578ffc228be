"""Draw predicted or ground-truth instances on images: translucent masks, contours, boxes, labels,
keypoints and their skeleton edges.

All functions take and return ``uint8`` RGB arrays of shape (H, W, 3); the input is never modified.
"""
from __future__ import annotations

import colorsys
import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np
import pycocotools.mask as mask_util
import torch
from PIL import Image

__all__ = ["PREDICTED_KEYPOINT_THRESH", "color_for", "draw_ground_truth", "draw_instances", "draw_keypoints",
           "keypoint_connection_indices", "save_image"]


_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Predicted keypoints are worth drawing when their heatmap's peak holds more than this share of the
# softmax: far above the 1/3136 of a flat 56x56 map, so unsure ones (e.g. another class's slots) stay hidden.
PREDICTED_KEYPOINT_THRESH = 0.05


def color_for(index: int) -> tuple[int, int, int]:
    """A saturated RGB color for ``index``; consecutive indices get far-apart hues.

    Stepping the hue by the golden-ratio fraction never repeats and keeps neighbours distinct.
    """
    hue = (index * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75, 0.95)
    return int(r * 255), int(g * 255), int(b * 255)


def _to_numpy(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        desc = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"Expected a uint8 RGB image of shape (H, W, 3), got {desc}.")


def _line_width(image: np.ndarray) -> int:
    return max(1, round(min(image.shape[:2]) / 300))


def _draw_masks(canvas: np.ndarray, masks: np.ndarray, colors: list[tuple[int, int, int]], alpha: float) -> None:
    # Largest first so that small instances stay visible on top of the ones they overlap.
    order = np.argsort([-int(m.sum()) for m in masks], kind="stable")
    for i in order:
        mask = masks[i].astype(bool)
        if not mask.any():
            continue
        color = np.array(colors[i], dtype=np.float32)
        canvas[mask] = np.clip((1.0 - alpha) * canvas[mask] + alpha * color, 0, 255).round()
        contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(canvas, contours, -1, colors[i], 1)


def keypoint_connection_indices(names: Sequence[str] | None,
                                rules: Sequence[Sequence[str]] | None) -> list[tuple[int, int]]:
    """Skeleton edges given by keypoint name (a dataset's ``keypoint_connection_rules``) as pairs of
    indices into ``names`` (its ``keypoint_names``); none when either is missing."""
    index = {n: i for i, n in enumerate(names or [])}
    return [(index[a], index[b]) for a, b, *_ in rules or [] if a in index and b in index]


def draw_keypoints(canvas: np.ndarray, keypoints: np.ndarray, colors: Sequence[tuple[int, int, int]], *,
                   connections: Sequence[tuple[int, int]] = (), threshold: float = 0.0) -> None:
    """Draw keypoints, and the skeleton edges between drawn ones, onto ``canvas`` in place.

    Args:
        canvas: uint8 RGB (H, W, 3).
        keypoints: ``(N, K, 3)`` ``(x, y, s)`` in continuous pixel coordinates (pixel ``i`` spans
            ``[i, i + 1)``); ``s`` is a score or a visibility, and a keypoint is drawn when it
            exceeds ``threshold``.
        colors: one color per instance.
        connections: skeleton edges as pairs of keypoint indices.
        threshold: see ``keypoints``.
    """
    radius = max(1, _line_width(canvas) + 1)
    for points, color in zip(keypoints, colors):
        shown = points[:, 2] > threshold
        pixel = [(int(np.floor(x)), int(np.floor(y))) for x, y in points[:, :2]]
        for a, b in connections:
            if shown[a] and shown[b]:
                cv2.line(canvas, pixel[a], pixel[b], color, _line_width(canvas), cv2.LINE_AA)
        for k in np.flatnonzero(shown):
            cv2.circle(canvas, pixel[k], radius, (255, 255, 255), -1, cv2.LINE_AA)
            cv2.circle(canvas, pixel[k], radius, color, 1, cv2.LINE_AA)


def _draw_label(canvas: np.ndarray, text: str, x0: int, y0: int, color: tuple[int, int, int]) -> None:
    scale = max(0.4, min(canvas.shape[:2]) / 800)
    (tw, th), baseline = cv2.getTextSize(text, _FONT, scale, 1)
    # Above the box when there is room, else just inside its top edge.
    top = y0 - th - baseline - 2 if y0 - th - baseline - 2 >= 0 else y0
    cv2.rectangle(canvas, (x0, top), (x0 + tw + 2, top + th + baseline + 2), color, thickness=-1)
    # Dark text on light backgrounds and vice versa (ITU-R BT.601 luma).
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    text_color = (0, 0, 0) if luma > 128 else (255, 255, 255)
    cv2.putText(canvas, text, (x0 + 1, top + th + 1), _FONT, scale, text_color, 1, cv2.LINE_AA)


def _draw(
    image: np.ndarray,
    *,
    boxes: np.ndarray,
    labels: Sequence[str],
    colors: list[tuple[int, int, int]],
    masks: np.ndarray | None,
    alpha: float,
    keypoints: np.ndarray | None = None,
    connections: Sequence[tuple[int, int]] = (),
    keypoint_threshold: float = 0.0,
) -> np.ndarray:
    canvas = image.copy()
    if masks is not None and len(masks):
        if masks.shape[1:] != image.shape[:2]:
            raise ValueError(f"Masks of size {masks.shape[1:]} do not match the image size {image.shape[:2]}.")
        _draw_masks(canvas, masks, colors, alpha)
    width = _line_width(image)
    for box, label, color in zip(boxes, labels, colors):
        x0, y0, x1, y1 = (int(round(float(v))) for v in box)
        cv2.rectangle(canvas, (x0, y0), (x1, y1), color, width)
        if label:
            _draw_label(canvas, label, max(x0, 0), max(y0, 0), color)
    if keypoints is not None and len(keypoints):
        draw_keypoints(canvas, keypoints, colors, connections=connections, threshold=keypoint_threshold)
    return canvas


def _class_name(class_names: Sequence[str], cls: int) -> str:
    return class_names[cls] if 0 <= cls < len(class_names) else str(cls)


def draw_instances(
    image: np.ndarray,
    instances: Mapping[str, Any],
    *,
    class_names: Sequence[str],
    score_thresh: float = 0.5,
    alpha: float = 0.5,
    color_by: str = "instance",
    keypoint_connections: Sequence[tuple[int, int]] = (),
    keypoint_threshold: float = 0.0,
) -> np.ndarray:
    """Draw instances (model-output contract, tensors or arrays) on an image.

    Args:
        image: uint8 RGB (H, W, 3), the size the boxes and masks refer to.
        instances: ``boxes`` (D, 4) XYXY, ``classes`` (D,), optional ``scores`` (D,) and ``masks``
            (D, H, W). Without ``scores`` every instance is drawn and labels carry no score.
        class_names: contiguous class id -> name.
        score_thresh: instances scoring below it are skipped.
        alpha: opacity of the mask fill, in [0, 1].
        color_by: ``"instance"`` (a distinct color each) or ``"class"`` (one color per class).
        keypoint_connections: skeleton edges (pairs of keypoint indices) drawn between the
            ``keypoints`` (D, K, 3) of each instance, when it has them.
        keypoint_threshold: keypoints whose score (or visibility) is not above it are not drawn.

    Returns:
        A new uint8 (H, W, 3) array; ``image`` is left unchanged.
    """
    _check_image(image)
    if color_by not in ("instance", "class"):
        raise ValueError(f"color_by must be 'instance' or 'class', got {color_by!r}")
    boxes = _to_numpy(instances["boxes"]).reshape(-1, 4)
    classes = _to_numpy(instances["classes"]).astype(np.int64).reshape(-1)
    scores = instances.get("scores")
    scores = None if scores is None else _to_numpy(scores).astype(np.float64).reshape(-1)
    masks = instances.get("masks")
    masks = None if masks is None else _to_numpy(masks)
    keep = np.arange(len(boxes)) if scores is None else np.flatnonzero(scores >= score_thresh)
    labels = [
        _class_name(class_names, int(classes[i])) + ("" if scores is None else f" {scores[i]:.2f}")
        for i in keep
    ]
    colors = [color_for(int(classes[i]) if color_by == "class" else int(k)) for k, i in enumerate(keep)]
    keypoints = instances.get("keypoints")
    return _draw(
        image, boxes=boxes[keep], labels=labels, colors=colors,
        masks=None if masks is None else masks[keep], alpha=alpha,
        keypoints=None if keypoints is None else _to_numpy(keypoints)[keep], connections=keypoint_connections,
        keypoint_threshold=keypoint_threshold,
    )


def _segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """Polygons (list of flat [x, y, ...] lists) or RLE (str or list counts) -> bool (H, W)."""
    if isinstance(segmentation, list):
        rle = mask_util.merge(mask_util.frPyObjects(segmentation, height, width))
    elif isinstance(segmentation.get("counts"), list):
        rle = mask_util.frPyObjects(segmentation, height, width)
    else:
        rle = segmentation
    return mask_util.decode(rle).astype(bool)


def draw_ground_truth(
    image: np.ndarray,
    annotations: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    class_names: Sequence[str],
    *,
    alpha: float = 0.5,
    keypoint_connections: Sequence[tuple[int, int]] = (),
) -> np.ndarray:
    """Draw ground truth given as dataset-record annotations or as a model-input ``instances`` dict.

    Args:
        image: uint8 RGB (H, W, 3).
        annotations: a record's ``annotations`` list (XYXY ``bbox``, contiguous ``category_id``,
            polygon or RLE ``segmentation``, ``iscrowd``), or ``{"boxes", "classes", "masks"}``.
        class_names: contiguous class id -> name.
        alpha: opacity of the mask fill.
        keypoint_connections: skeleton edges between the labelled keypoints (a record's json
            ``keypoints``, or the instances' ``keypoints``), as pairs of keypoint indices.

    Returns:
        A new uint8 (H, W, 3) array; crowd regions are labelled ``"<name> (crowd)"``.
    """
    _check_image(image)
    if isinstance(annotations, Mapping):
        return draw_instances(image, annotations, class_names=class_names, alpha=alpha, color_by="instance",
                              keypoint_connections=keypoint_connections)
    height, width = image.shape[:2]
    boxes = np.array([a["bbox"] for a in annotations], dtype=np.float64).reshape(-1, 4)
    labels = [
        _class_name(class_names, int(a["category_id"])) + (" (crowd)" if a.get("iscrowd", 0) else "")
        for a in annotations
    ]
    has_masks = all(a.get("segmentation") for a in annotations) and len(annotations) > 0
    masks = (
        np.stack([_segmentation_to_mask(a["segmentation"], height, width) for a in annotations])
        if has_masks
        else None
    )
    colors = [color_for(i) for i in range(len(annotations))]
    keypoints = None
    if annotations and all(a.get("keypoints") for a in annotations):
        # json pixel indices -> continuous coordinates (the pixel's centre), as the models use
        keypoints = np.array([a["keypoints"] for a in annotations], dtype=np.float64).reshape(len(annotations), -1, 3)
        keypoints[..., :2] += 0.5
    return _draw(image, boxes=boxes, labels=labels, colors=colors, masks=masks, alpha=alpha, keypoints=keypoints,
                 connections=keypoint_connections)


def save_image(path: str, image: np.ndarray) -> None:
    """Write a uint8 RGB (H, W, 3) array to ``path`` (format from the extension), creating folders."""
    _check_image(image)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    Image.fromarray(image).save(path)
