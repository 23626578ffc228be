"""The ROI heads' inference, export-safe: detections and masks for a whole batch at once.

The heads' own modules (poolers' settings, box head, box predictor, mask head, MaskIoU head) compute
every number; what is replaced is the glue around them that is not traceable at any size: per-image
Python lists, NMS with a branch on the box count, a mask-score function that branches on an empty
input, and the CPU fast paths of RoIAlign (channels-last and separable forms, whose window sizes are
read from the data), which give way to torchvision's ``roi_align``: the same values, as an operator
both ``torch.export`` and ONNX know.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import roi_align

from ..layers.poolers import ROIAlign, assign_boxes_to_levels
from ..modeling.roi_heads import Res5ROIHeads, StandardROIHeads
from .ops import batched_nms, clip_boxes, first_k_per_group

__all__ = ["detect_boxes", "predict_masks", "pool"]


def _pool_level(op: nn.Module, features: Tensor, rois: Tensor) -> Tensor:
    """One level's pooling; average RoIAlign always through torchvision's operator."""
    if isinstance(op, ROIAlign) and op.aggregate == "avg":
        return roi_align(features, rois.to(features.dtype), op.output_size, op.spatial_scale,
                         op.sampling_ratio, op.aligned)
    return op(features, rois)


def pool(pooler: nn.Module, maps: Sequence[Tensor], rois: Tensor) -> Tensor:
    """A :class:`~maskrcnn_ext.layers.poolers.MultiLevelROIPooler`'s output, without its branch on
    empty levels.

    Args:
        pooler: the heads' pooler (its level ops and level-assignment settings are used).
        maps: per-level maps ``(B, C, Hl, Wl)``, finest first.
        rois: ``(R, 5)`` ``(image index, x0, y0, x1, y1)`` in input pixels.

    Returns:
        ``(R, C, S, S)`` pooled features in the order of ``rois``.
    """
    ops = list(pooler.level_ops)
    if len(ops) == 1:
        return _pool_level(ops[0], maps[0], rois)
    levels = assign_boxes_to_levels(rois[:, 1:], min_level=pooler.min_level, max_level=pooler.max_level,
                                    canonical_box_size=pooler.canonical_box_size,
                                    canonical_level=pooler.canonical_level)
    size = pooler.output_size
    out = maps[0].new_zeros((rois.shape[0], maps[0].shape[1], size, size))
    for level, (op, features) in enumerate(zip(ops, maps)):
        index = torch.nonzero(levels == level)[:, 0]
        # An empty level pools zero RoIs: a no-op both in torch and in ONNX Runtime.
        out = out.index_copy(0, index, _pool_level(op, features, rois[index]).to(out.dtype))
    return out


def detect_boxes(heads: StandardROIHeads, features: dict[str, Tensor], proposals: Tensor, image_index: Tensor,
                 image_sizes: Tensor, num_images: int | torch.SymInt) -> dict[str, Tensor]:
    """Box branch: score threshold, per-class NMS and top-k per image, as
    :meth:`FastRCNNOutputLayers.inference` does image by image.

    Args:
        heads: the model's ROI heads.
        features: backbone maps by name.
        proposals: ``(P, 4)`` XYXY; image_index: ``(P,)`` int64 image of each proposal.
        image_sizes: ``(B, 2)`` unpadded ``(h, w)``; num_images: B.

    Returns:
        ``{"boxes": (D, 4), "scores": (D,), "classes": (D,), "batch_index": (D,)}``, grouped by image,
        best score first within each image.
    """
    predictor = heads.box_predictor
    rois = torch.cat([image_index[:, None].to(proposals.dtype), proposals], dim=1)
    pooled = pool(heads.box_pooler, [features[f] for f in heads.box_in_features], rois)
    logits, deltas = predictor(heads.box_predictor_input(heads.box_head(pooled)))
    scores = F.softmax(logits, dim=-1)[:, :-1]
    per_roi = deltas.shape[1] // 4
    boxes = predictor.box_coder.decode_single(deltas.reshape(-1, 4), proposals.repeat_interleave(per_roi, dim=0))
    boxes = clip_boxes(boxes.reshape(-1, per_roi, 4), image_sizes[image_index, 0], image_sizes[image_index, 1])
    boxes = boxes.expand(-1, scores.shape[1], 4)
    roi, classes = torch.nonzero(scores > predictor.test_score_thresh).unbind(1)
    boxes, scores, images = boxes[roi, classes], scores[roi, classes], image_index[roi]
    kept = batched_nms(boxes, scores, images * predictor.num_classes + classes, predictor.test_nms_thresh)
    kept = kept[first_k_per_group(images[kept], predictor.test_topk_per_image, num_images)]
    return {"boxes": boxes[kept], "scores": scores[kept], "classes": classes[kept], "batch_index": images[kept]}


def _mask_head_input(heads: StandardROIHeads, pooled: Tensor) -> Tensor:
    """What the mask head reads: the pooled features, or res5 run on them in C4 heads
    (:meth:`Res5ROIHeads.mask_features`)."""
    return heads.box_head(pooled) if isinstance(heads, Res5ROIHeads) else pooled


def predict_masks(heads: StandardROIHeads, features: dict[str, Tensor],
                  detections: dict[str, Tensor]) -> dict[str, Tensor]:
    """Mask branch on the detections: ``mask_probs`` ``(D, M, M)``, and ``mask_scores`` ``(D,)``
    (box score x predicted IoU of the detection's class) when the heads have a MaskIoU head."""
    rois = torch.cat([detections["batch_index"][:, None].to(detections["boxes"].dtype), detections["boxes"]], dim=1)
    pooled = pool(heads.mask_pooler, [features[f] for f in heads.mask_in_features], rois)
    roi_features = _mask_head_input(heads, pooled)
    probs = heads.mask_decoder(heads.mask_head(roi_features), detections["classes"])
    out = dict(detections, mask_probs=probs)
    maskiou_head = getattr(heads, "maskiou_head", None)
    if maskiou_head is not None:
        predicted = maskiou_head(roi_features, probs)
        own = predicted.gather(1, detections["classes"][:, None])[:, 0]
        out["mask_scores"] = detections["scores"] * own.clamp(0.0, 1.0).to(detections["scores"].dtype)
    return out
