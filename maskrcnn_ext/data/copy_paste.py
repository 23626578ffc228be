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
from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["Patch", "boxes_from_masks", "cut_patch", "jitter_patch", "paste_patches", "small_object_copy_paste"]

logger = logging.getLogger(__name__)


@dataclass
class Patch:
    """An instance cut out of an image: its pixels ``(h, w, 3)``, mask ``(h, w)`` bool and class."""

    pixels: np.ndarray
    mask: np.ndarray
    cls: int


def boxes_from_masks(masks: np.ndarray) -> np.ndarray:
    """``(N, 4)`` float32 XYXY boxes enclosing each mask's pixels (pixel edges, so a single pixel at
    (x, y) gives ``[x, y, x + 1, y + 1]``); all zeros for an empty mask."""
    boxes = np.zeros((len(masks), 4), dtype=np.float32)
    for i, mask in enumerate(masks):
        ys, xs = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
        if len(ys):
            boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
    return boxes


def cut_patch(image: np.ndarray, mask: np.ndarray, cls: int) -> Patch | None:
    """The tight crop of one instance; None for an empty mask."""
    x0, y0, x1, y1 = boxes_from_masks(mask[None])[0].astype(int)
    if x1 <= x0:
        return None
    return Patch(image[y0:y1, x0:x1].copy(), mask[y0:y1, x0:x1].copy(), cls)


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
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64) @ rotation.T
    out_w = max(1, int(np.ceil(corners[:, 0].max() - corners[:, 0].min())))
    out_h = max(1, int(np.ceil(corners[:, 1].max() - corners[:, 1].min())))
    rotation[:, 2] += ((out_w - 1) / 2 - (w - 1) / 2, (out_h - 1) / 2 - (h - 1) / 2)  # centre it in the canvas
    # Replicating the border keeps interpolation at the object's edge from mixing in black, which
    # would outline every copy; the mask alone decides what is pasted.
    pixels = cv2.warpAffine(patch.pixels, rotation, (out_w, out_h), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REPLICATE)
    mask = cv2.warpAffine(patch.mask.astype(np.uint8), rotation, (out_w, out_h), flags=cv2.INTER_NEAREST,
                          borderMode=cv2.BORDER_CONSTANT).astype(bool)
    cut = cut_patch(pixels, mask, patch.cls)  # trim the empty border rotation leaves
    return cut


def _blend(image: np.ndarray, patch: Patch, y: int, x: int, blend_sigma: float, blocked: np.ndarray) -> None:
    """Composite ``patch`` into ``image`` (in place) with its top-left at ``(y, x)``.

    With ``blend_sigma > 0`` the alpha is the mask blurred over a margin of 3 sigma around the patch
    (whose pixels are extended by replication to fill it), so the edge fades both ways; the fade
    never reaches ``blocked`` pixels (crowd regions).
    """
    pad = int(np.ceil(3 * blend_sigma)) if blend_sigma > 0 else 0
    pixels = cv2.copyMakeBorder(patch.pixels, pad, pad, pad, pad, cv2.BORDER_REPLICATE) if pad else patch.pixels
    alpha = np.pad(patch.mask, pad).astype(np.float32)
    if pad:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blend_sigma)
    height, width = image.shape[:2]
    y0, x0 = max(0, y - pad), max(0, x - pad)
    y1, x1 = min(height, y + patch.mask.shape[0] + pad), min(width, x + patch.mask.shape[1] + pad)
    window = (slice(y0 - (y - pad), y1 - (y - pad)), slice(x0 - (x - pad), x1 - (x - pad)))
    alpha = np.where(blocked[y0:y1, x0:x1], 0.0, alpha[window])[:, :, None]
    region = image[y0:y1, x0:x1]
    image[y0:y1, x0:x1] = (region * (1 - alpha) + pixels[window] * alpha).round().clip(0, 255).astype(np.uint8)


def _free_position(patch_mask: np.ndarray, blocked: np.ndarray, rng: np.random.Generator,
                   max_tries: int) -> tuple[int, int] | None:
    """A random top-left ``(y, x)`` where the patch fits in the image without touching ``blocked``."""
    h, w = patch_mask.shape
    height, width = blocked.shape
    if h > height or w > width:
        return None
    for _ in range(max_tries):
        y, x = int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1))
        if not (blocked[y:y + h, x:x + w] & patch_mask).any():
            return y, x
    return None


def paste_patches(image: np.ndarray, masks: np.ndarray, classes: np.ndarray, patches: list[Patch],
                  rng: np.random.Generator, *, crowd: np.ndarray | None = None, avoid_instances: bool = True,
                  blend_sigma: float = 0.0, min_visible_area: int = 4, max_tries: int = 20
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paste ``patches`` at random positions, each on top of everything pasted before it.

    Args:
        image, masks, classes: the target image ``(H, W, 3)`` uint8, its masks ``(N, H, W)`` bool and
            classes ``(N,)``.
        patches: what to paste.
        rng: the source of every random choice.
        crowd: ``(H, W)`` crowd regions; never pasted over.
        avoid_instances: place patches only where they cover no existing (or already pasted)
            instance; otherwise they may occlude them, and occluded pixels leave their masks.
        blend_sigma: Gaussian blur (pixels) of the paste's alpha, feathering its edge over 3 sigma
            either way (the instance mask stays the hard one); 0 pastes hard-edged.
        min_visible_area: an instance (old or new) that a later paste partly covers is dropped when
            fewer visible pixels than this (at least 1) are left, so one fully covered always is.
        max_tries: random positions tried per patch; a patch with no free position is skipped.

    Returns:
        The new image, masks ``(N', H, W)``, classes ``(N',)`` and ``origin`` ``(N',)``: the input
        index of each kept instance, -1 for a pasted one.
    """
    if image.dtype != np.uint8:
        raise TypeError(f"copy-paste needs a uint8 image, got {image.dtype}")
    min_visible_area = max(1, min_visible_area)
    image, masks, classes = image.copy(), masks.astype(bool), classes.copy()
    areas_before = [int(m.sum()) for m in masks]
    blocked = np.zeros(image.shape[:2], dtype=bool) if crowd is None else np.asarray(crowd, dtype=bool)
    occupied = masks.any(axis=0)
    new_masks, new_classes = [], []
    skipped = 0
    for patch in patches:
        position = _free_position(patch.mask, blocked | occupied if avoid_instances else blocked, rng, max_tries)
        if position is None:
            skipped += 1
            continue
        y, x = position
        h, w = patch.mask.shape
        region = (slice(y, y + h), slice(x, x + w))
        _blend(image, patch, y, x, blend_sigma, blocked)
        if not avoid_instances:  # only then can a paste cover something; only its region changes
            masks[(slice(None), *region)] &= ~patch.mask
            for m in new_masks:
                m[region] &= ~patch.mask
        full = np.zeros_like(blocked)
        full[region] = patch.mask
        new_masks.append(full)
        new_classes.append(patch.cls)
        areas_before.append(int(patch.mask.sum()))
        occupied[region] |= patch.mask
    if skipped:
        logger.debug("copy-paste: %d of %d patches found no free position and were skipped", skipped, len(patches))
    if new_masks:
        masks = np.concatenate([masks, np.stack(new_masks)])
        classes = np.concatenate([classes, np.asarray(new_classes, dtype=classes.dtype)])
    # Drop what the pastes hid (mostly): an instance that lost pixels and kept fewer than
    # min_visible_area. Instances that were that small (even empty) to begin with and were not
    # covered stay.
    after = masks.sum(axis=(1, 2))
    before = np.asarray(areas_before, dtype=after.dtype).reshape(-1)
    keep = (after == before) | (after >= min_visible_area)
    origin = np.concatenate([np.arange(len(areas_before) - len(new_masks)), np.full(len(new_masks), -1)])
    return image, masks[keep], classes[keep], origin[keep]


def small_object_copy_paste(image: np.ndarray, masks: np.ndarray, classes: np.ndarray, rng: np.random.Generator,
                            *, crowd: np.ndarray | None = None, area_threshold: float = 32.0 ** 2,
                            copies: int = 1, scale_range: tuple[float, float] = (0.8, 1.2),
                            max_rotation: float = 15.0, blend_sigma: float = 0.0,
                            max_tries: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Paste every small instance ``copies`` more times in the same image (Kisantal et al. 2019),
    jittered in scale and rotation, where no instance and no crowd region lies.

    Args:
        area_threshold: instances with fewer mask pixels than this are small (COCO's small bucket,
            32², measured at the size of the image given: apply after resizing to the training scale).
        Others: as :func:`paste_patches` and :func:`jitter_patch`. Copies never cover an instance,
            so every input instance is kept unchanged.

    Returns:
        As :func:`paste_patches`.
    """
    areas = masks.sum(axis=(1, 2))
    sources = [cut_patch(image, masks[i], int(classes[i])) for i in np.nonzero((areas > 0) & (areas < area_threshold))[0]]
    patches = []
    for source in sources:
        for _ in range(copies):
            jittered = jitter_patch(source, rng, scale_range=scale_range, max_rotation=max_rotation)
            if jittered is not None:
                patches.append(jittered)
    return paste_patches(image, masks, classes, patches, rng, crowd=crowd, avoid_instances=True,
                         blend_sigma=blend_sigma, max_tries=max_tries)
