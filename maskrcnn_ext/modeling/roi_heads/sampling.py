"""Matching proposals to ground truth and sampling the RoIs the heads train on."""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.ops import box_iou

__all__ = ["match_and_sample", "sample_fg_bg", "sampling_generator"]

# Separate random streams per image for the RPN's anchors and the RoI heads' proposals.
RPN_STREAM, ROI_STREAM = 1, 2


def sampling_generator(sample_seed: int | None, stream: int,
                       device: torch.device | str = "cpu") -> torch.Generator | None:
    """A generator for one image's training-time sampling, or None to use the global RNG.

    Seeding from the image's ``sample_seed`` (given by the data loader per stream position) makes the
    sampled anchors and RoIs a function of the data alone: the same whichever rank, batch or
    resumed process the image lands in.

    Args:
        sample_seed: the image's seed, or None.
        stream: which sampler draws from it (``RPN_STREAM`` or ``ROI_STREAM``).
        device: where the candidates are, so that the permutations are drawn there (a CUDA
            generator's stream differs from a CPU one's; each is reproducible on its own).
    """
    if sample_seed is None:
        return None
    return torch.Generator(device=device).manual_seed(int(sample_seed) * 16 + stream)


def _random_subset(index: Tensor, k: int, generator: torch.Generator | None) -> Tensor:
    if generator is None:
        return index[torch.randperm(index.numel(), device=index.device)[:k]]
    return index[torch.randperm(index.numel(), generator=generator, device=generator.device)[:k].to(index.device)]


def sample_fg_bg(fg: Tensor, bg: Tensor, num_samples: int, positive_fraction: float,
                 generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """Random subsets of foreground and background candidates, at most ``positive_fraction`` foreground.

    Args:
        fg, bg: ``(F,)`` / ``(B,)`` int64 candidate indices.
        num_samples: total samples wanted (fewer when there are not enough candidates).
        generator: generator to draw from (see :func:`sampling_generator`); None uses the global RNG.

    Returns:
        ``(fg_index, bg_index)`` int64 index tensors.
    """
    num_fg = min(int(num_samples * positive_fraction), fg.numel())
    num_bg = min(num_samples - num_fg, bg.numel())
    return _random_subset(fg, num_fg, generator), _random_subset(bg, num_bg, generator)


def subsample_labels(is_fg: Tensor, num_samples: int, positive_fraction: float,
                     generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
    """:func:`sample_fg_bg` over a ``(P,)`` bool mask (True: foreground, False: background)."""
    fg = torch.nonzero(is_fg).squeeze(1)
    bg = torch.nonzero(~is_fg).squeeze(1)
    return sample_fg_bg(fg, bg, num_samples, positive_fraction, generator)


def match_and_sample(proposals: Tensor, gt_boxes: Tensor, gt_classes: Tensor, *, num_classes: int,
                     iou_threshold: float, batch_size: int, positive_fraction: float,
                     append_gt: bool = True, generator: torch.Generator | None = None) -> dict[str, Tensor]:
    """Label one image's proposals by their best-overlapping ground truth and sample a minibatch.

    Args:
        proposals: ``(P, 4)`` XYXY proposal boxes.
        gt_boxes: ``(G, 4)`` ground-truth boxes; ``gt_classes``: ``(G,)`` in ``[0, K)``.
        num_classes: K; background RoIs get class K.
        iou_threshold: a proposal is foreground when its best IoU is at least this.
        batch_size: RoIs sampled; ``positive_fraction`` of them at most are foreground.
        append_gt: add the ground-truth boxes as proposals (so early training has positives).
        generator: generator for the sampling (see :func:`sampling_generator`); None: global RNG.

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
    fg, bg = subsample_labels(is_fg, batch_size, positive_fraction, generator)
    keep = torch.cat([fg, bg])
    labels = classes[gt_index[keep]].clone()
    labels[len(fg):] = num_classes
    return {"boxes": proposals[keep], "gt_classes": labels, "gt_boxes": gt_boxes[gt_index[keep]],
            "gt_index": gt_index[keep]}
