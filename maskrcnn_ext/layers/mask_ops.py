"""Mask operations shared by heads and post-processing."""
from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor
from torchvision.ops import roi_align

__all__ = ["paste_masks_in_image", "crop_and_resize_masks"]


def paste_masks_in_image(masks: Tensor, boxes: Tensor, image_size: tuple[int, int], *,
                         threshold: float = 0.5) -> Tensor:
    """Resample each box-relative mask into its box in a full image and binarize it.

    Only the pixels inside each box are computed, so the cost scales with box area, not with
    ``N x H x W``. Pixel ``(y, x)`` samples the mask at its centre ``(y + 0.5, x + 0.5)`` relative to
    the box, bilinearly, with zeros outside the mask (``grid_sample`` with ``align_corners=False``).
    Bilinear resampling is separable, so a box's ``h x w`` values are two small matrix products,
    ``Wy (h, M) @ mask (M, M) @ Wx (w, M)^T``, which run at matrix-multiply speed.

    Args:
        masks: ``(N, M, M)`` mask probabilities in [0, 1] (or ``(N, 1, M, M)``).
        boxes: ``(N, 4)`` XYXY boxes in the target image's pixels.
        image_size: ``(H, W)`` of the target image.
        threshold: probability at or above which a pixel is foreground.

    Returns:
        ``(N, H, W)`` bool masks.
    """
    if masks.dim() == 4:
        masks = masks[:, 0]
    height, width = image_size
    out = torch.zeros((len(masks), height, width), dtype=torch.bool, device=masks.device)
    if len(masks) == 0:
        return out
    side = masks.shape[-1]
    masks = masks.float()
    # One host transfer for all boxes instead of one small sync per box.
    regions = [_box_pixel_range(*box, height, width) for box in boxes.detach().float().cpu().tolist()]
    kept = [i for i, r in enumerate(regions) if r is not None]
    if not kept:
        return out
    box = boxes.detach().float()[kept]
    # The interpolation weights of every box at once: per-box small ops would cost more than the products.
    rows = _interpolation_matrices([regions[i][1::2] for i in kept], box[:, 1], box[:, 3], side)
    cols = _interpolation_matrices([regions[i][0::2] for i in kept], box[:, 0], box[:, 2], side)
    for i, row_weights, col_weights in zip(kept, rows, cols):
        px0, py0, px1, py1 = regions[i]
        out[i, py0:py1, px0:px1] = row_weights @ masks[i] @ col_weights.T >= threshold
    return out


def _box_pixel_range(x0: float, y0: float, x1: float, y1: float, height: int,
                     width: int) -> tuple[int, int, int, int] | None:
    """Integer pixel range whose centres can fall inside the box, clipped to the image."""
    px0, py0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    px1, py1 = min(int(math.ceil(x1)), width), min(int(math.ceil(y1)), height)
    if px1 <= px0 or py1 <= py0 or x1 <= x0 or y1 <= y0:
        return None
    return px0, py0, px1, py1


def _interpolation_matrices(ranges: list[tuple[int, int]], b0: Tensor, b1: Tensor, side: int) -> list[Tensor]:
    """Per box, the ``(p1 - p0, side)`` bilinear weights of its pixels ``p0..p1-1`` on the mask cells
    along one axis, given the box extent ``b0..b1`` (``(N,)`` each) on that axis.

    Pixel ``p`` sits at mask coordinate ``u = (p + 0.5 - b0) / (b1 - b0) * side - 0.5``; it takes
    ``1 - frac(u)`` of cell ``floor(u)`` and ``frac(u)`` of the next one, and nothing of cells outside
    ``[0, side)`` (zero padding).
    """
    lengths = [p1 - p0 for p0, p1 in ranges]
    device = b0.device
    counts = torch.tensor(lengths, device=device)
    # For every pixel row of the stacked result: its box, and its place within that box's range.
    which = torch.repeat_interleave(torch.arange(len(ranges), device=device), counts)
    first_row = torch.tensor([0, *itertools.accumulate(lengths)][:-1], device=device)
    place = torch.arange(len(which), device=device) - torch.repeat_interleave(first_row, counts)
    starts = torch.tensor([p0 for p0, _ in ranges], device=device, dtype=torch.float32)
    pixel = starts[which] + place + 0.5
    u = (pixel - b0[which]) * (side / (b1 - b0))[which] - 0.5
    low = torch.floor(u)
    frac = u - low
    low = low.long()
    # Columns shifted by one so that cells -1 and `side` exist; they are cut off below.
    weights = torch.zeros((len(which), side + 2), device=device, dtype=torch.float32)
    index = torch.arange(len(which), device=device)
    weights[index, (low + 1).clamp(0, side + 1)] += 1 - frac
    weights[index, (low + 2).clamp(0, side + 1)] += frac
    return list(weights[:, 1 : side + 1].split(lengths))


def crop_and_resize_masks(masks: Tensor, mask_index: Tensor, boxes: Tensor, size: int) -> Tensor:
    """Crop full-image masks to boxes and resize to ``size x size`` (mask-head training targets).

    Args:
        masks: ``(G, H, W)`` bool/uint8/float instance masks of one image.
        mask_index: ``(R,)`` int64, which mask each box crops.
        boxes: ``(R, 4)`` XYXY boxes in the masks' pixels.
        size: output side M.

    Returns:
        ``(R, M, M)`` float in [0, 1]: the fraction of each bin covered by the mask (threshold it
        at 0.5 for binary targets).
    """
    if len(boxes) == 0:
        return masks.new_zeros((0, size, size), dtype=torch.float32)
    rois = torch.cat([mask_index[:, None].to(boxes.dtype), boxes], dim=1)
    feats = masks[:, None].to(dtype=boxes.dtype)
    return roi_align(feats, rois, (size, size), 1.0, 0, True)[:, 0]
