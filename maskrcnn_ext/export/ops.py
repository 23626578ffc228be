"""Export-safe building blocks: NMS, per-image top-k and box clipping without data-dependent branches.

``torch.export`` traces a program once for every input size, so a Python ``if`` on a value that
depends on the data (``if boxes.numel() > 4000`` in torchvision's ``batched_nms``, ``if len(x) == 0``)
cannot be traced. The functions here compute the same results with tensor operations only, over a
whole batch at once (every box carries the index of its image), so the batch size can stay dynamic.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import Tensor
from torchvision.ops import nms

__all__ = ["batched_nms", "clip_boxes", "exportable_nms", "first_k_per_group", "sort_by_score"]


def _group_offset_boxes(boxes: Tensor, groups: Tensor) -> Tensor:
    """``(N, 4)`` boxes moved so that boxes of different groups never overlap.

    The shift is ``group * (largest coordinate + 1)``, torchvision's coordinate trick; a group of index
    0 keeps its coordinates unchanged, so for a single image and group the result is exact.
    """
    # The appended zero keeps max() defined when there are no boxes, without branching on the count.
    largest = torch.cat([boxes.reshape(-1), boxes.new_zeros(1)]).max()
    return boxes + (groups.to(boxes.dtype) * (largest + 1))[:, None]


def batched_nms(boxes: Tensor, scores: Tensor, groups: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each group, as one NMS call.

    Args:
        boxes: ``(N, 4)`` XYXY, non-negative coordinates.
        scores: ``(N,)``.
        groups: ``(N,)`` int64 group of each box (e.g. ``image * num_classes + class``).
        iou_threshold: boxes overlapping a better one of their group by more than this are dropped.

    Returns:
        ``(N',)`` int64 indices of the kept boxes, best score first across all groups.
    """
    return nms(_group_offset_boxes(boxes, groups), scores, iou_threshold)


def _nms_shape(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Shape function of ``torchvision.ops.nms`` while tracing: ``(K,)`` int64 with ``0 <= K <= N``.

    torchvision's own declares ``K >= 2`` and no upper bound: an exported program then asserts at run
    time that NMS kept two boxes (failing on an image with fewer candidates), and the bounds of the
    sizes computed from K overflow the int64 that ONNX stores them in.
    """
    torch._check(boxes.dim() == 2, lambda: f"nms: boxes must be (N, 4), got {boxes.dim()} dimensions")
    torch._check(boxes.shape[1] == 4, lambda: "nms: boxes must be (N, 4)")
    torch._check(scores.dim() == 1, lambda: "nms: scores must be (N,)")
    torch._check(scores.shape[0] == boxes.shape[0], lambda: "nms: one score per box")
    kept = torch.library.get_ctx().new_dynamic_size()
    torch._check(kept <= boxes.shape[0])
    return boxes.new_empty((kept,), dtype=torch.int64)


@contextmanager
def exportable_nms() -> Iterator[None]:
    """Trace ``torchvision.ops.nms`` with :func:`_nms_shape`; torchvision's shape function is back afterwards.
    Eager results are unaffected: a shape function only runs on fake tensors."""
    lib = torch.library.Library("torchvision", "FRAGMENT")
    try:
        torch.library.register_fake("torchvision::nms", _nms_shape, lib=lib)
        yield
    finally:
        lib._destroy()


def sort_by_score(indices: Tensor, scores: Tensor) -> Tensor:
    """``indices`` (``(N,)`` into ``scores``) reordered best score first."""
    return indices[torch.argsort(scores[indices], descending=True)]


def first_k_per_group(groups: Tensor, k: int, num_groups: int | torch.SymInt) -> Tensor:
    """The first ``k`` entries of every group, the groups in ascending order.

    Args:
        groups: ``(N,)`` int64 group of each entry, entries in priority order (best first).
        k: entries kept per group.
        num_groups: number of groups G (e.g. the batch size); every group index is below it.

    Returns:
        ``(N',)`` int64 positions into ``groups``: group 0's first ``k`` in their order, then group 1's, ...
    """
    one_hot = (groups[:, None] == torch.arange(num_groups, device=groups.device)[None, :]).to(torch.int64)
    # An entry's rank in its group is the count of earlier entries of that group: a cumulative sum,
    # which needs no sort and so keeps the priority order exactly (no stable sort is needed).
    rank = one_hot.cumsum(0).gather(1, groups[:, None])[:, 0] - 1
    kept = torch.nonzero(rank < k)[:, 0]
    counts = one_hot[kept].sum(0)
    starts = counts.cumsum(0) - counts
    position = starts[groups[kept]] + rank[kept]
    return torch.zeros_like(kept).scatter(0, position, kept)


def clip_boxes(boxes: Tensor, heights: Tensor, widths: Tensor) -> Tensor:
    """Clip boxes to their images, like ``torchvision.ops.clip_boxes_to_image`` with one size per box.

    Args:
        boxes: ``(N, ..., 4)`` XYXY.
        heights, widths: ``(N,)`` size of each box's image (any dtype).

    Returns:
        ``(N, ..., 4)`` with x in ``[0, width]`` and y in ``[0, height]``.
    """
    shape = (-1,) + (1,) * (boxes.dim() - 1)
    w = widths.to(boxes.dtype).reshape(shape)
    h = heights.to(boxes.dtype).reshape(shape)
    x = torch.minimum(boxes[..., 0::2].clamp(min=0), w)
    y = torch.minimum(boxes[..., 1::2].clamp(min=0), h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)
