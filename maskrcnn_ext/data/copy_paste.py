"""Copy-paste augmentation of instances, on numpy arrays (Kisantal et al. 2019; Ghiasi et al. 2021).

Framework-agnostic: an image ``(H, W, 3)`` uint8, instance masks ``(N, H, W)`` bool and classes
``(N,)`` in, the same out, plus an optional crowd map ``(H, W)`` bool that is never pasted from or
pasted over. Boxes are not inputs: after a paste they are recomputed from the masks
(:func:`boxes_from_masks`), so they always match what is visible.

All randomness comes from the ``numpy.random.Generator`` passed in: a seeded generator reproduces
the same output.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import NamedTuple

import cv2
import numpy as np

__all__ = ["Patch", "PasteResult", "boxes_from_masks", "cross_image_copy_paste", "cut_patch", "jitter_patch",
           "paste_patches", "small_object_copy_paste"]

logger = logging.getLogger(__name__)


@dataclass
class Patch:
    """An instance cut out of an image: its pixels ``(h, w, 3)``, mask ``(h, w)`` bool and class."""

    pixels: np.ndarray
    mask: np.ndarray
    cls: int


class PasteResult(NamedTuple):
    """What a paste returns: the new image ``(H, W, 3)``, masks ``(N', H, W)`` bool, classes ``(N',)``,
    ``origin`` ``(N',)`` (each kept instance's input index, -1 for a pasted one) and XYXY ``boxes``
    ``(N', 4)`` float32 (an input instance's own box unless a paste covered part of it)."""

    image: np.ndarray
    masks: np.ndarray
    classes: np.ndarray
    origin: np.ndarray
    boxes: np.ndarray


def _extent(mask: np.ndarray) -> tuple[int, int, int, int]:
    """``(x0, y0, x1, y1)`` of a 2-D bool mask's pixels, ``x1 == x0`` when it is empty."""
    # One C pass: cv2 reads a single-channel 8-bit image as the set of its non-zero pixels.
    x, y, w, h = cv2.boundingRect(np.ascontiguousarray(mask).view(np.uint8))
    return x, y, x + w, y + h


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """``(N, 4)`` float32 XYXY boxes enclosing each mask's pixels (pixel edges, so a single pixel at
    (x, y) gives ``[x, y, x + 1, y + 1]``); all zeros for an empty mask."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        boxes[i] = _extent(mask)
    return boxes


def _areas(masks: np.ndarray) -> np.ndarray:
    """``(N,)`` pixel count of each of ``(N, H, W)`` bool masks."""
    return np.array([np.count_nonzero(mask) for mask in masks], dtype=np.int64)  # sum() would cast to int


def cut_patch(image: np.ndarray, mask: np.ndarray, cls: int) -> Patch | None:
    """The tight crop of one instance; None for an empty mask."""
    x0, y0, x1, y1 = _extent(mask)
    if x1 <= x0:
        return None
    return Patch(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), cls)


def _cut_near(image: np.ndarray, mask: np.ndarray, cls: int, area: int, box: np.ndarray | None) -> Patch | None:
    """:func:`cut_patch`, searching the mask's extent only around ``box`` when the mask lies wholly
    within it (checked by its pixel count ``area``): a small window instead of the whole image."""
    if box is not None:
        height, width = mask.shape
        x0, y0 = max(0, int(box[0]) - 1), max(0, int(box[1]) - 1)
        x1, y1 = min(width, int(math.ceil(box[2])) + 1), min(height, int(math.ceil(box[3])) + 1)
        window = (slice(y0, y1), slice(x0, x1))
        if x1 > x0 and y1 > y0 and np.count_nonzero(mask[window]) == area:
            return cut_patch(image[window], mask[window], cls)
    return cut_patch(image, mask, cls)


def jitter_patch(patch: Patch, rng: np.random.Generator, *, scale_range: tuple[float, float] = (0.8, 1.2),
                 max_rotation: float = 15.0) -> Patch | None:
    """Rescale by a factor drawn from ``scale_range`` and rotate by up to ``max_rotation`` degrees
    either way (the canvas grows to hold the rotated patch). None when nothing of the mask is left
    (a one-pixel instance shrunk away)."""
    scale = rng.uniform(*scale_range)
    angle = rng.uniform(-max_rotation, max_rotation)
    h, w = patch.mask.shape
    # cv2 maps pixel centres: the patch's centre is ((w - 1) / 2, (h - 1) / 2).
    rotation = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, scale)
    cos, sin = abs(rotation[0, 0]), abs(rotation[0, 1])  # scale * |cos|, scale * |sin|
    out_w, out_h = max(1, math.ceil(w * cos + h * sin)), max(1, math.ceil(w * sin + h * cos))
    rotation[:, 2] += ((out_w - 1) / 2 - (w - 1) / 2, (out_h - 1) / 2 - (h - 1) / 2)  # centre it in the canvas
    # Replicating the border keeps interpolation at the object's edge from mixing in black, which
    # would outline every copy; the mask alone decides what is pasted.
    pixels = cv2.warpAffine(patch.pixels, rotation, (out_w, out_h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(patch.mask.view(np.uint8), rotation, (out_w, out_h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT).view(bool)
    return cut_patch(pixels, mask, patch.cls)  # trim the empty border rotation leaves


def _blend(image: np.ndarray, patch: Patch, y: int, x: int, blend_sigma: float, blocked: np.ndarray) -> None:
    """Composite ``patch`` into ``image`` (in place) with its top-left at ``(y, x)``.

    With ``blend_sigma > 0`` the alpha is the mask blurred over a margin of 3 sigma around the patch
    (whose pixels are extended by replication to fill it), so the edge fades both ways; the fade
    never reaches ``blocked`` pixels (crowd regions). A hard paste never touches them anyway: its
    position was chosen clear of them.
    """
    h, w = patch.mask.shape
    if blend_sigma <= 0:
        np.copyto(image[y:y + h, x:x + w], patch.pixels, where=patch.mask[:, :, None])
        return
    pad = int(np.ceil(3 * blend_sigma))
    pixels = cv2.copyMakeBorder(patch.pixels, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    alpha = cv2.copyMakeBorder(patch.mask.astype(np.float32), pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    alpha = cv2.GaussianBlur(alpha, (0, 0), blend_sigma)
    height, width = image.shape[:2]
    y0, x0 = max(0, y - pad), max(0, x - pad)
    y1, x1 = min(height, y + h + pad), min(width, x + w + pad)
    window = (slice(y0 - (y - pad), y1 - (y - pad)), slice(x0 - (x - pad), x1 - (x - pad)))
    alpha = np.where(blocked[y0:y1, x0:x1], 0.0, alpha[window])[:, :, None]
    region = image[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = (region * (1 - alpha) + pixels[window] * alpha).round().clip(0, 255).astype(np.uint8)


def _free_position(patch_mask: np.ndarray, forbidden: np.ndarray, rng: np.random.Generator,
                   max_tries: int) -> tuple[int, int] | None:
    """A random top-left ``(y, x)`` where the patch fits in the image without touching ``forbidden``."""
    h, w = patch_mask.shape
    height, width = forbidden.shape
    if h > height or w > width or max_tries < 1:
        return None
    # Scaled uniforms: several times cheaper than Generator.integers with per-axis bounds.
    tries = (rng.random((max_tries, 2)) * (height - h + 1, width - w + 1)).astype(np.int64)
    for y, x in tries.tolist():
        if not np.logical_and(forbidden[y:y + h, x:x + w], patch_mask).any():
            return y, x
    return None


def _positions(patches: list[Patch], forbidden: np.ndarray, rng: np.random.Generator, *, avoid_instances: bool,
               max_tries: int) -> list[tuple[int, int, Patch]]:
    """A free position for each patch in turn, ``(y, x, patch)`` of those that found one; with
    ``avoid_instances`` each placed patch is added to ``forbidden`` (in place)."""
    placed = []
    for patch in patches:
        position = _free_position(patch.mask, forbidden, rng, max_tries)
        if position is None:
            continue
        y, x = position
        if avoid_instances:
            h, w = patch.mask.shape
            forbidden[y:y + h, x:x + w] |= patch.mask
        placed.append((y, x, patch))
    if len(placed) < len(patches):
        logger.debug("copy-paste: %d of %d patches found no free position and were skipped",
                     len(patches) - len(placed), len(patches))
    return placed


def _occlude(masks: np.ndarray, placed: list[tuple[int, int, Patch]], first_pasted: int) -> np.ndarray:
    """Remove from ``masks`` (in place) the pixels each paste covers of instances beneath it (inputs
    and earlier pastes; paste ``j`` is row ``first_pasted + j``); which rows lost pixels ``(N',)``."""
    covered = np.zeros(len(masks), dtype=bool)
    for j, (y, x, patch) in enumerate(placed):
        h, w = patch.mask.shape
        below = masks[: first_pasted + j, y:y + h, x:x + w]
        hit = np.nonzero(np.logical_and(below, patch.mask).any(axis=(1, 2)))[0]
        if len(hit):
            masks[hit, y:y + h, x:x + w] &= ~patch.mask
            covered[hit] = True
    return covered


def paste_patches(image: np.ndarray, masks: np.ndarray, classes: np.ndarray, patches: list[Patch],
                  rng: np.random.Generator, *, boxes: np.ndarray | None = None, crowd: np.ndarray | None = None,
                  avoid_instances: bool = True, blend_sigma: float = 0.0, min_visible_area: int = 4,
                  max_tries: int = 20) -> PasteResult:
    """Paste ``patches`` at random positions, each on top of everything pasted before it.

    Cost grows with the patches' size, not the image's, apart from a few whole-image passes. When
    no patch finds a place the inputs themselves are returned (no copies); otherwise the image is
    copied, never changed in place.

    Args:
        image, masks, classes: the target image ``(H, W, 3)`` uint8, its masks ``(N, H, W)`` bool and
            classes ``(N,)``.
        patches: what to paste.
        rng: the source of every random choice.
        boxes: ``(N, 4)`` XYXY boxes of the input instances, returned as they are for instances no
            paste covers (an annotated box may differ from its mask's extent); from the masks if None.
        crowd: ``(H, W)`` crowd regions; never pasted over.
        avoid_instances: place patches only where they cover no existing (or already pasted)
            instance; otherwise they may occlude them, and occluded pixels leave their masks.
        blend_sigma: Gaussian blur (pixels) of the paste's alpha, feathering its edge over 3 sigma
            either way (the instance mask stays the hard one); 0 pastes hard-edged.
        min_visible_area: an instance (old or new) that a later paste partly covers is dropped when
            fewer visible pixels than this (at least 1) are left, so one fully covered always is.
        max_tries: random positions tried per patch; a patch with no free position is skipped.
    """
    if image.dtype != np.uint8:
        raise TypeError(f"copy-paste needs a uint8 image, got {image.dtype}")
    masks, n = np.asarray(masks, dtype=bool), len(masks)
    placed = []
    if patches:
        blocked = np.zeros(image.shape[:2], dtype=bool) if crowd is None else np.asarray(crowd, dtype=bool)
        forbidden = blocked | masks.any(axis=0) if avoid_instances else blocked
        placed = _positions(patches, forbidden, rng, avoid_instances=avoid_instances, max_tries=max_tries)
    if not placed:  # nothing to copy: hand the inputs back as they are
        return PasteResult(image, masks, classes, np.arange(n), boxes_from_masks(masks) if boxes is None else boxes)
    image = np.array(image, order="K")  # a copy in the input's memory layout (CHW-backed stays so)
    for y, x, patch in placed:
        _blend(image, patch, y, x, blend_sigma, blocked)
    out_masks = np.empty((n + len(placed), *image.shape[:2]), dtype=bool)
    out_masks[:n] = masks
    out_masks[n:] = False
    out_boxes = np.empty((len(out_masks), 4), dtype=np.float32)
    out_boxes[:n] = boxes_from_masks(masks) if boxes is None else boxes
    for row, (y, x, patch) in enumerate(placed, start=n):
        h, w = patch.mask.shape
        out_masks[row, y:y + h, x:x + w] = patch.mask
        out_boxes[row] = np.add(_extent(patch.mask), (x, y, x, y))
    out_classes = np.concatenate([classes, np.asarray([p.cls for _, _, p in placed], dtype=classes.dtype)])
    origin = np.concatenate([np.arange(n), np.full(len(placed), -1)])
    if avoid_instances:  # nothing was covered, so nothing is dropped
        return PasteResult(image, out_masks, out_classes, origin, out_boxes)
    keep = np.ones(len(out_masks), dtype=bool)
    covered = np.nonzero(_occlude(out_masks, placed, n))[0]
    out_boxes[covered] = boxes_from_masks(out_masks[covered])
    keep[covered] = _areas(out_masks[covered]) >= max(1, min_visible_area)
    return PasteResult(image, out_masks[keep], out_classes[keep], origin[keep], out_boxes[keep])


def small_object_copy_paste(image: np.ndarray, masks: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
                            *, boxes: np.ndarray | None = None, crowd: np.ndarray | None = None,
                            area_threshold: float = 32.0 ** 2, copies: int = 1,
                            scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 15.0,
                            blend_sigma: float = 0.0, max_tries: int = 20) -> PasteResult:
    """Paste every small instance ``copies`` more times in the same image (Kisantal et al. 2019),
    jittered in scale and rotation, where no instance and no crowd region lies.

    Args:
        area_threshold: instances with fewer mask pixels than this are small (COCO's small bucket,
            32², measured at the size of the image given: apply after resizing to the training scale).
        Others: as :func:`paste_patches` and :func:`jitter_patch`. Copies never cover an instance,
            so every input instance is kept unchanged.
    """
    masks = np.asarray(masks, dtype=bool)
    areas = _areas(masks)
    small = np.nonzero((areas > 0) & (areas < area_threshold))[0]
    patches = []
    for i in small:
        source = _cut_near(image, masks[i], int(classes[i]), areas[i], None if boxes is None else boxes[i])
        for _ in range(copies):
            jittered = jitter_patch(source, rng, scale_range=scale_range, max_rotation=max_rotation)
            if jittered is not None:
                patches.append(jittered)
    return paste_patches(image, masks, classes, patches, rng, boxes=boxes, crowd=crowd, avoid_instances=True,
                         blend_sigma=blend_sigma, max_tries=max_tries)


def cross_image_copy_paste(image: np.ndarray, masks: np.ndarray, classes: np.ndarray, source_image: np.ndarray,
                           source_masks: np.ndarray, source_classes: np.ndarray, rng: np.random.Generator, *,
                           boxes: np.ndarray | None = None, crowd: np.ndarray | None = None, max_instances: int = 10,
                           scale_range: tuple[float, float] = (0.8, 1.2), max_rotation: float = 0.0,
                           blend_sigma: float = 1.0, min_visible_area: int = 16, max_tries: int = 20) -> PasteResult:
    """Paste a random subset of another image's instances over this one (Simple Copy-Paste, Ghiasi et al. 2021).

    Between 1 and ``max_instances`` source instances are cut out, brought to this image's scale (the
    ratio of the two images' shorter sides, times a factor from ``scale_range``), jittered and
    pasted at random positions over whatever is there except crowd regions.

    Args:
        image, masks, classes: the target, as :func:`paste_patches`.
        source_image: ``(H', W', 3)`` uint8 image to cut from, in the same channel order as ``image``.
        source_masks: ``(M, H', W')`` masks of its non-crowd instances (any 0/1 dtype).
        source_classes: ``(M,)`` their classes.
        Others: as :func:`paste_patches` and :func:`jitter_patch`; pastes may cover instances, which
            then lose those pixels.
    """
    count = len(source_classes)
    chosen = rng.permutation(count)[: int(rng.integers(1, min(count, max_instances) + 1))] if count else []
    ratio = min(image.shape[:2]) / min(source_image.shape[:2])
    scale_range = (scale_range[0] * ratio, scale_range[1] * ratio)
    patches = []
    for i in chosen:
        patch = cut_patch(source_image, np.asarray(source_masks[i], dtype=bool), int(source_classes[i]))
        patch = None if patch is None else jitter_patch(patch, rng, scale_range=scale_range, max_rotation=max_rotation)
        if patch is not None:
            patches.append(patch)
    return paste_patches(image, masks, classes, patches, rng, boxes=boxes, crowd=crowd, avoid_instances=False,
                         blend_sigma=blend_sigma, min_visible_area=min_visible_area, max_tries=max_tries)
