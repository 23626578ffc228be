"""Preprocessing for an exported model: resize each image, then pad the batch.

This file is copied beside every export (``preprocess.py``) and needs only ``torch`` and
``torchvision``, so a deployment can prepare inputs without installing the toolkit. The graph itself
normalises (pixel mean/std, channel order); what stays outside is what depends on the images of a
batch rather than on the model:

- resizing, by the rule recorded in the export's JSON (``"resize"``), which is the toolkit's test-time
  resize (``torchvision.transforms.v2.Resize``): evaluating the export through the toolkit's own data
  loader then feeds it exactly what eager inference sees;
- padding each image into the top-left corner of a zero batch whose sides are multiples of
  ``"size_divisibility"`` (and at least ``"min_side"``), with each image's unpadded size beside it.

Usage::

    meta = json.load(open("model.onnx.json"))  # or model.pt2.json
    resized = [resize_image(image, meta["resize"]) for image in images]   # uint8 (3, H, W) RGB
    batch, sizes = pad_batch(resized, size_divisibility=meta["size_divisibility"], min_side=meta["min_side"])
    # run the model on (batch, sizes); boxes come back in resized pixels: divide by the scales
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor
from torchvision.transforms.v2 import functional as TF

__all__ = ["pad_batch", "resize_image", "resize_scale"]


def _resize_rule(rule: dict[str, Any]) -> tuple[Any, Any]:
    if rule.get("op", "").rsplit(".", 1)[-1] != "Resize":
        raise ValueError(f"unsupported resize rule {rule}: only torchvision.transforms.v2.Resize is recorded here")
    return rule.get("size"), rule.get("max_size")


def resize_image(image: Tensor, rules: Sequence[dict[str, Any]]) -> Tensor:
    """Apply the export's resize rules to one image.

    Args:
        image: ``(3, H, W)`` RGB (uint8 or float).
        rules: the JSON's ``"resize"`` list, e.g. ``[{"op": "torchvision.transforms.v2.Resize",
            "size": 352, "max_size": 640}]`` (shorter side to 352, longer side at most 640).

    Returns:
        ``(3, H', W')`` of the same dtype.
    """
    for rule in rules:
        size, max_size = _resize_rule(rule)
        image = TF.resize(image, size=size, max_size=max_size, antialias=rule.get("antialias", True))
    return image


def resize_scale(original: tuple[int, int], resized: tuple[int, int]) -> tuple[float, float]:
    """``(sy, sx)`` that map resized pixels back to the original image (multiply boxes by them)."""
    return original[0] / resized[0], original[1] / resized[1]


def pad_batch(images: Sequence[Tensor], *, size_divisibility: int = 32, min_side: int = 0,
              device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
    """Batch images of different sizes for the exported graph.

    Args:
        images: ``[(3, h_i, w_i)]`` RGB pixels in 0..255 (uint8 or float).
        size_divisibility: the batch's sides are rounded up to a multiple of it.
        min_side: the batch's sides are at least this (the smallest size the export accepts).
        device: where the batch goes (default: the first image's device).

    Returns:
        float32 ``(B, 3, H, W)`` zero-padded batch and int64 ``(B, 2)`` unpadded ``(h_i, w_i)``.
    """
    if not images:
        raise ValueError("pad_batch needs at least one image")
    device = device or images[0].device
    stride = max(int(size_divisibility), 1)
    height = max(max(int(im.shape[-2]) for im in images), min_side)
    width = max(max(int(im.shape[-1]) for im in images), min_side)
    height, width = -(-height // stride) * stride, -(-width // stride) * stride
    batch = torch.zeros((len(images), 3, height, width), dtype=torch.float32, device=device)
    for i, image in enumerate(images):
        batch[i, :, : image.shape[-2], : image.shape[-1]] = image.to(device=device, dtype=torch.float32)
    sizes = torch.tensor([[int(im.shape[-2]), int(im.shape[-1])] for im in images], dtype=torch.int64, device=device)
    return batch, sizes
