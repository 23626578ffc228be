"""Matching proposals to ground truth and sampling the RoIs the heads train on."""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["match_and_sample"]


def subsample_labels(is_fg: Tensor, num_samples: int, positive_fraction: float) -> tuple[Tensor, Tensor]:
    """Random foreground/background indices with at most ``positive_fraction`` foreground.

    Args:
        is_fg: ``(P,)`` bool, True for foreground candidates (all others are background).
        num_samples: total samples wanted (fewer when there are not enough candidates).

    Returns:
        ``(fg_index, bg_index)`` int64 index tensors.
    """
    fg = torch.nonzero(is_fg).squeeze(1)
    bg = torch.nonzero(~is_fg).squeeze(1)
    num_fg = min(int(num_samples * positive_fraction), fg.numel())
    num_bg = min(num_samples - num_fg, bg.numel())
    fg = fg[torch.randperm(fg.numel(), device=fg.device)[:num_fg]]
    bg = bg[torch.randperm(bg.numel(), device=bg.device)[:num_bg]]
    return fg, bg


def match_and_sample(proposals: Tensor, gt_boxes: Tensor, gt_classes: Tensor, *, num_classes: int,
                     iou_threshold: float, batch_size: int, positive_fraction: float,
                     append_gt: bool = True) -> dict[str, Tensor]:
    """Label one image's proposals by their best-overlapping ground truth and sample a minibatch.

    Args:
        proposals: ``(P, 4)`` XYXY proposal boxes.
        gt_boxes: ``(G, 4)`` ground-truth boxes; ``gt_classes``: ``(G,)`` in ``[0, K)``.
        num_classes: K; background RoIs get class K.
        iou_threshold: a proposal is foreground when its best IoU is at least this.
        batch_size: RoIs sampled; ``positive_fraction`` of them at most are foreground.
        append_gt: add the ground-truth boxes as proposals (so early training has positives).

    Returns:
        ``{"boxes": (R, 4), "gt_classes": (R,), "gt_boxes": (R, 4), "gt_index": (R,)}`` with the
        foreground RoIs first. For background RoIs ``gt_boxes``/``gt_index`` point at the best match
        (or are zeros when the image has no ground truth) and must not be used.
    """
    if append_gt:
        proposals = torch.cat([proposals, gt_boxes.to(proposals.dtype)])
    if len(gt_boxes) == 0:
        best_iou = proposals.new_zeros(len(proposals))
        gt_index = torch.zeros(len(proposals), dtype=torch.int64, device=proposals.device)
        gt_boxes = proposals.new_zeros((1, 4))
        classes = torch.full((1,), num_classes, dtype=torch.int64, device=proposals.device)
    else:
        best_iou, gt_index = box_iou(gt_boxes, proposals).max(dim=0)
        classes = gt_classes
    is_fg = best_iou >= iou_threshold
    fg, bg = subsample_labels(is_fg, batch_size, positive_fraction)
    keep = torch.cat([fg, bg])
    labels = classes[gt_index[keep]].clone()
    labels[len(fg):] = num_classes
    return {"boxes": proposals[keep], "gt_classes": labels, "gt_boxes": gt_boxes[gt_index[keep]],
            "gt_index": gt_index[keep]}
