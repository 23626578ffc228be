"""Mask operations shared by heads and post-processing."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.ops import roi_align

__all__ = ["paste_masks_in_image", "crop_and_resize_masks"]


def paste_masks_in_image(masks: Tensor, boxes: Tensor, image_size: tuple[int, int], *,
                         threshold: float = 0.5) -> Tensor:
    """Resample each box-relative mask into its box in a full image and binarize it.

    Only the pixels inside each box are computed, so the cost scales with box area, not with
    ``N x H x W``. Pixel ``(y, x)`` samples the mask at its centre ``(y + 0.5, x + 0.5)`` relative to
    the box, bilinearly, with zeros outside the mask.

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
    # One host transfer for all boxes instead of one small sync per box.
    for i, (x0, y0, x1, y1) in enumerate(boxes.detach().float().cpu().tolist()):
        region = _box_pixel_range(x0, y0, x1, y1, height, width)
        if region is None:
            continue
        px0, py0, px1, py1 = region
        grid = _box_grid(x0, y0, x1, y1, px0, py0, px1, py1, masks.device, masks.dtype)
        sampled = F.grid_sample(masks[i][None, None], grid, mode="bilinear",
                                padding_mode="zeros", align_corners=False)
        out[i, py0:py1, px0:px1] = sampled[0, 0] >= threshold
    return out


def _box_pixel_range(x0: float, y0: float, x1: float, y1: float, height: int,
                     width: int) -> tuple[int, int, int, int] | None:
    """Integer pixel range whose centres can fall inside the box, clipped to the image."""
    px0, py0 = max(int(math.floor(x0)), 0), max(int(math.floor(y0)), 0)
    px1, py1 = min(int(math.ceil(x1)), width), min(int(math.ceil(y1)), height)
    if px1 <= px0 or py1 <= py0 or x1 <= x0 or y1 <= y0:
        return None
    return px0, py0, px1, py1


def _box_grid(x0: float, y0: float, x1: float, y1: float, px0: int, py0: int, px1: int, py1: int,
              device: torch.device, dtype: torch.dtype) -> Tensor:
    """``(1, h, w, 2)`` grid_sample coordinates in [-1, 1] of pixel centres relative to the box."""
    xs = (torch.arange(px0, px1, device=device, dtype=dtype) + 0.5 - x0) / (x1 - x0) * 2 - 1
    ys = (torch.arange(py0, py1, device=device, dtype=dtype) + 0.5 - y0) / (y1 - y0) * 2 - 1
    gx = xs[None, :].expand(len(ys), len(xs))
    gy = ys[:, None].expand(len(ys), len(xs))
    return torch.stack([gx, gy], dim=-1)[None]


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
