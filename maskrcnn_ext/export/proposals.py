"""The RPN's inference, export-safe: proposals for a whole batch at once.

It runs the RPN module's own head, anchors and box coder, and reproduces its proposal filtering
(:meth:`~maskrcnn_ext.modeling.proposal_generator.RPN.filter_proposals`) with tensor operations only:
per-level top-k with a symbolic ``k``, clipping to each image's size, NMS within each (image, level)
and a per-image cap, none of which branches on the number of boxes.
"""
from __future__ import annotations

import torch
from torch import Tensor
from torchvision.models.detection.image_list import ImageList
from torchvision.models.detection.rpn import concat_box_prediction_layers

from ..modeling.proposal_generator import RPN
from .ops import batched_nms, clip_boxes, first_k_per_group, sort_by_score

__all__ = ["propose"]

# torchvision's RPN drops boxes with a side under this many pixels (RegionProposalNetwork.min_size).
_MIN_SIZE = 1e-3


def _level_topk(logits: Tensor, counts: list, k: int) -> tuple[Tensor, Tensor]:
    """Per level, the ``k`` best anchors of every image.

    Args:
        logits: ``(B, A)`` objectness logits, levels concatenated.
        counts: anchors per level (ints, or symbolic sizes while exporting).

    Returns:
        ``(B, T)`` anchor indices and ``(T,)`` their level.
    """
    indices, levels, start = [], [], 0
    for level, count in enumerate(counts):
        # sym_min keeps min(k, count) symbolic when count depends on the input size.
        top = torch.sym_min(k, count)
        indices.append(logits[:, start:start + count].topk(top, dim=1).indices + start)
        levels.append(torch.full((top,), level, dtype=torch.int64, device=logits.device))
        start = start + count
    return torch.cat(indices, dim=1), torch.cat(levels)


def _valid(boxes: Tensor, scores: Tensor, rpn: RPN) -> Tensor:
    """Which candidate proposals survive before NMS, as RPN.filter_proposals decides."""
    widths, heights = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if rpn.nms_on_logits:
        return (widths > 0) & (heights > 0)
    return (widths >= _MIN_SIZE) & (heights >= _MIN_SIZE) & (scores >= rpn.score_thresh)


def _nms_per_level(boxes: Tensor, scores: Tensor, images: Tensor, levels: Tensor, num_levels: int,
                   threshold: float) -> Tensor:
    """NMS within each (image, level); kept indices best first.

    One NMS call per level, with the images as groups, rather than one call over (image, level)
    groups: for one image this is exactly torchvision's per-level loop (no coordinate shift).
    """
    kept = []
    for level in range(num_levels):
        index = torch.nonzero(levels == level)[:, 0]
        kept.append(index[batched_nms(boxes[index], scores[index], images[index], threshold)])
    return sort_by_score(torch.cat(kept), scores)


def propose(rpn: RPN, images: Tensor, features: dict[str, Tensor], image_sizes: Tensor) -> tuple[Tensor, Tensor]:
    """Proposals of every image of the batch.

    Args:
        rpn: the model's RPN (its head, anchor generator, box coder and test settings are used).
        images: ``(B, 3, H, W)`` the padded, normalised batch (only its shape is read).
        features: backbone maps by name.
        image_sizes: ``(B, 2)`` int64 unpadded ``(h, w)`` of each image.

    Returns:
        ``(P, 4)`` XYXY proposals and ``(P,)`` int64 image index of each, grouped by image.
    """
    maps = [features[name] for name in rpn.in_features]
    logits, deltas = rpn.head(maps)
    anchors = rpn.anchor_generator(ImageList(images, [tuple(images.shape[-2:])]), maps)[0]
    counts = [lg.shape[1] * lg.shape[2] * lg.shape[3] for lg in logits]
    objectness, deltas = concat_box_prediction_layers(logits, deltas)
    batch = images.shape[0]
    boxes = rpn.box_coder.decode_single(deltas.detach(), anchors.repeat(batch, 1)).reshape(batch, -1, 4)
    top, levels = _level_topk(objectness.reshape(batch, -1), counts, rpn.pre_nms_top_n())
    rows = torch.arange(batch, device=images.device)[:, None]
    scores = objectness.reshape(batch, -1)[rows, top].reshape(-1)
    if not rpn.nms_on_logits:
        scores = torch.sigmoid(scores)
    image_index = rows.expand_as(top).reshape(-1)
    levels = levels[None, :].expand_as(top).reshape(-1)
    boxes = clip_boxes(boxes[rows, top].reshape(-1, 4), image_sizes[image_index, 0], image_sizes[image_index, 1])
    valid = torch.nonzero(_valid(boxes, scores, rpn))[:, 0]
    boxes, scores, image_index, levels = boxes[valid], scores[valid], image_index[valid], levels[valid]
    kept = _nms_per_level(boxes, scores, image_index, levels, len(counts), rpn.nms_thresh)
    kept = kept[first_k_per_group(image_index[kept], rpn.post_nms_top_n(), batch)]
    return boxes[kept], image_index[kept]
