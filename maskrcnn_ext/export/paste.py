"""Masks pasted into the input image inside an exported graph.

:func:`~maskrcnn_ext.layers.mask_ops.paste_masks_in_image` computes only each box's own pixel range,
read from the boxes on the host: fast, but not traceable. Here every detection gets the same bilinear
weights over the whole image, zero outside the box's pixel range, so the values equal that
function's probabilities before thresholding, at a cost of ``D x H x W``.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["paste_mask_probs"]


def _axis_weights(b0: Tensor, b1: Tensor, length: int | torch.SymInt, side: int) -> Tensor:
    """``(D, length, side)`` weights of every pixel along one axis on the mask cells.

    Pixel ``p`` samples the mask at ``u = (p + 0.5 - b0) / (b1 - b0) * side - 0.5``, taking
    ``1 - frac(u)`` of cell ``floor(u)`` and ``frac(u)`` of the next, nothing from cells outside the
    mask; pixels outside ``[floor(b0), ceil(b1))`` get no weight at all, as in the host version.
    """
    pixel = torch.arange(length, device=b0.device, dtype=b0.dtype)[None, :]
    b0, b1 = b0[:, None], b1[:, None]
    u = (pixel + 0.5 - b0) * (side / (b1 - b0).clamp(min=1e-6)) - 0.5
    low = torch.floor(u)
    frac = (u - low)[..., None]
    cells = torch.arange(side, device=b0.device, dtype=b0.dtype)[None, None, :]
    low = low[..., None]
    weights = (cells == low).to(b0.dtype) * (1 - frac) + (cells == low + 1).to(b0.dtype) * frac
    inside = (pixel >= torch.floor(b0)) & (pixel < torch.ceil(b1)) & (b1 > b0)
    return weights * inside[..., None].to(b0.dtype)


def paste_mask_probs(mask_probs: Tensor, boxes: Tensor, height: int | torch.SymInt,
                     width: int | torch.SymInt) -> Tensor:
    """Paste RoI-resolution mask probabilities into ``height x width`` images.

    Args:
        mask_probs: ``(D, M, M)`` probabilities.
        boxes: ``(D, 4)`` XYXY in the pixels of the target image.

    Returns:
        ``(D, height, width)`` float probabilities (threshold them, e.g. at 0.5, for binary masks).
    """
    side = mask_probs.shape[-1]
    boxes = boxes.float()
    rows = _axis_weights(boxes[:, 1], boxes[:, 3], height, side)
    cols = _axis_weights(boxes[:, 0], boxes[:, 2], width, side)
    return torch.matmul(torch.matmul(rows, mask_probs.float()), cols.transpose(1, 2))
