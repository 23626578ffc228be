"""Keypoint targets, loss and decoding: tensors in, tensors out.

Coordinates are continuous image coordinates: pixel ``i`` covers ``[i, i + 1)``, so its centre is at
``i + 0.5``. (COCO's json stores keypoints as pixel indices; the data mapper adds 0.5 on the way in
and the evaluator subtracts it on the way out.) An RoI ``(x0, y0, x1, y1)`` is divided into an
``M x M`` grid of bins; bin ``(i, j)`` covers ``[x0 + j w / M, x0 + (j + 1) w / M)`` horizontally
(``w = x1 - x0``) and likewise vertically.

- **Target**: a keypoint falls in one bin, whose flat index ``i M + j`` is the class of an
  ``M^2``-way classification. A keypoint exactly on the right or bottom border belongs to the last
  bin: the RoI is a closed box.
- **Ignored** (no loss): keypoints that are not labelled (visibility 0) and keypoints outside their
  RoI. Labelled but occluded keypoints (visibility 1) are trained, as in Detectron and Detectron2:
  COCO annotates where they are.
- **Decoding**: a heatmap's argmax bin, at its centre; its score is the softmax probability of that
  bin among the ``M^2`` positions, so decoding a one-hot target gives back the bin centre.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["decode_keypoints", "keypoint_loss", "keypoint_targets", "keypoints_in_rois"]


def keypoint_targets(keypoints: Tensor, boxes: Tensor, size: int) -> tuple[Tensor, Tensor]:
    """The bin each keypoint falls in, inside its RoI's ``size x size`` grid.

    Args:
        keypoints: ``(R, K, 3)`` ``(x, y, visibility)`` of each RoI's matched ground truth,
            continuous image coordinates; visibility 0 means not labelled.
        boxes: ``(R, 4)`` XYXY RoIs.
        size: M, the heatmap side.

    Returns:
        ``index`` ``(R, K)`` int64 flat bin indices ``y_bin * M + x_bin`` (0 where not valid), and
        ``valid`` ``(R, K)`` bool: labelled and inside the RoI (borders included).
    """
    valid = keypoints_in_rois(keypoints, boxes)
    x0, y0, x1, y1 = (boxes[:, i : i + 1] for i in range(4))
    # A degenerate RoI has a single bin; the clamp keeps the scale finite.
    bin_x = ((keypoints[..., 0] - x0) * (size / (x1 - x0).clamp(min=1e-6))).floor().long()
    bin_y = ((keypoints[..., 1] - y0) * (size / (y1 - y0).clamp(min=1e-6))).floor().long()
    # On the far border floor() gives M: the border belongs to the box, so to its last bin.
    index = bin_y.clamp(0, size - 1) * size + bin_x.clamp(0, size - 1)
    index = torch.where(valid, index, 0)
    return index, valid


def keypoints_in_rois(keypoints: Tensor, boxes: Tensor) -> Tensor:
    """``(R, K)`` bool: each RoI's keypoints that are labelled (visibility > 0) and inside the RoI,
    borders included, i.e. those that have a training target.

    Args:
        keypoints: ``(R, K, 3)`` ``(x, y, visibility)``; boxes: ``(R, 4)`` XYXY.
    """
    x, y = keypoints[..., 0], keypoints[..., 1]
    inside = (x >= boxes[:, 0:1]) & (x <= boxes[:, 2:3]) & (y >= boxes[:, 1:2]) & (y <= boxes[:, 3:4])
    return inside & (keypoints[..., 2] > 0)


def keypoint_loss(logits: Tensor, index: Tensor, valid: Tensor, *, normalizer: float | None = None) -> Tensor:
    """Softmax cross entropy over the ``M^2`` positions of each valid keypoint's heatmap.

    Args:
        logits: ``(R, K, M, M)`` heatmap logits.
        index / valid: ``(R, K)`` from :func:`keypoint_targets`.
        normalizer: divide the summed loss by this; None divides by the number of valid keypoints
            in the batch (Detectron2's default), i.e. the mean over them.

    Returns:
        A scalar; zero (keeping the graph) when no keypoint is valid.
    """
    if not bool(valid.any()):
        return logits.sum() * 0
    flat = logits.flatten(2)[valid]  # (V, M*M)
    total = F.cross_entropy(flat.float(), index[valid], reduction="sum")
    return total / (valid.sum() if normalizer is None else normalizer)


def decode_keypoints(logits: Tensor, boxes: Tensor) -> Tensor:
    """Keypoint locations and scores from heatmaps.

    Args:
        logits: ``(D, K, M, M)`` heatmap logits of D detections.
        boxes: ``(D, 4)`` XYXY detection boxes, in the image coordinates to decode into.

    Returns:
        ``(D, K, 3)``: ``x, y`` at the centre of the argmax bin (continuous image coordinates) and
        its softmax probability over the ``M^2`` bins as the score.
    """
    size = logits.shape[-1]
    score, flat = logits.flatten(2).float().softmax(dim=-1).max(dim=-1)
    bin_x = (flat % size).to(boxes.dtype)
    bin_y = torch.div(flat, size, rounding_mode="floor").to(boxes.dtype)
    width = (boxes[:, 2] - boxes[:, 0]).unsqueeze(1)
    height = (boxes[:, 3] - boxes[:, 1]).unsqueeze(1)
    x = boxes[:, 0:1] + (bin_x + 0.5) * width / size
    y = boxes[:, 1:2] + (bin_y + 0.5) * height / size
    return torch.stack([x, y, score.to(boxes.dtype)], dim=-1)
