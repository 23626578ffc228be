"""Mask Scoring R-CNN: ROI heads whose masks are scored by a learned MaskIoU head.

The variant overrides only the two mask hooks of :class:`StandardROIHeads`, so it composes with
any heads built on them: :class:`MaskScoringROIHeads` for FPN/C5 models and
:class:`MaskScoringRes5ROIHeads` for C4 models.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from ...registry import ROI_HEADS_REGISTRY
from .maskiou_head import fraction_inside_boxes, maskiou_targets
from .res5_roi_heads import Res5ROIHeads
from .roi_heads import StandardROIHeads

__all__ = ["MaskScoringMixin", "MaskScoringROIHeads", "MaskScoringRes5ROIHeads"]


class MaskScoringMixin:
    """Adds a MaskIoU head to ROI heads with a mask branch (put it first among the bases).

    Training adds ``loss_maskiou`` on the mask branch's positive RoIs; inference sets
    ``mask_scores = scores x predicted IoU`` and leaves the box ``scores`` unchanged.
    """

    maskiou_head: nn.Module

    def _attach_maskiou_head(self, maskiou_head: nn.Module) -> None:
        if not self.mask_on:
            raise ValueError(
                "Mask scoring needs a mask branch, but these ROI heads have none (mask_head is None). "
                "Give the heads mask_in_features, mask_pooler and mask_head, or use the plain ROI heads "
                "for a box-only model."
            )
        self.maskiou_head = maskiou_head

    def mask_losses(self, roi_features: Tensor, mask_logits: Tensor, positives: list[dict[str, Tensor]],
                    targets: list[dict[str, Tensor]]) -> dict[str, Tensor]:
        """The heads' mask losses plus ``loss_maskiou``: the MaskIoU head reads ``roi_features`` and the
        positives' decoded masks and learns their IoU with the ground truth (arguments as
        :meth:`StandardROIHeads.mask_losses`)."""
        losses = super().mask_losses(roi_features, mask_logits, positives, targets)
        classes = torch.cat([p["gt_classes"] for p in positives])
        # Decoded as at inference, so the MaskIoU head learns to score the masks it will be shown.
        probs = self.mask_decoder(mask_logits, classes)
        gt_roi_masks = torch.cat([p["mask_targets"] for p in positives])
        inside = torch.cat([fraction_inside_boxes(t["masks"], p["gt_index"], p["boxes"])
                            for p, t in zip(positives, targets)])
        with torch.no_grad():
            iou = maskiou_targets(probs, gt_roi_masks, inside)
        predicted = self.maskiou_head(roi_features, probs)
        losses["loss_maskiou"] = self.maskiou_head.loss(predicted, classes, iou)
        return losses

    def mask_inference(self, roi_features: Tensor, mask_logits: Tensor,
                       detections: list[dict[str, Tensor]]) -> list[dict[str, Tensor]]:
        """The heads' ``mask_probs`` plus ``mask_scores = scores x predicted IoU`` (arguments as
        :meth:`StandardROIHeads.mask_inference`)."""
        detections = super().mask_inference(roi_features, mask_logits, detections)
        if not detections:
            return detections
        classes = torch.cat([d["classes"] for d in detections])
        predicted = self.maskiou_head(roi_features, torch.cat([d["mask_probs"] for d in detections]))
        mask_scores = self.maskiou_head.predict(predicted, classes, torch.cat([d["scores"] for d in detections]))
        return [dict(d, mask_scores=s)
                for d, s in zip(detections, mask_scores.split([len(d["boxes"]) for d in detections]))]


@ROI_HEADS_REGISTRY.register()
class MaskScoringROIHeads(MaskScoringMixin, StandardROIHeads):
    """:class:`StandardROIHeads` with a MaskIoU head.

    Args:
        maskiou_head: e.g. :class:`~maskrcnn_ext.modeling.roi_heads.MaskIoUHead` with
            ``pooler_resolution`` equal to the mask pooler's output size.
        Others as :class:`StandardROIHeads`; a mask branch is required.
    """

    def __init__(self, *, maskiou_head: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self._attach_maskiou_head(maskiou_head)


@ROI_HEADS_REGISTRY.register()
class MaskScoringRes5ROIHeads(MaskScoringMixin, Res5ROIHeads):
    """:class:`Res5ROIHeads` with a MaskIoU head reading the res5 RoI features (``pooler_resolution``
    half the pooler's output size, e.g. 7).

    Args: as :class:`MaskScoringROIHeads` and :class:`Res5ROIHeads`.
    """

    def __init__(self, *, maskiou_head: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self._attach_maskiou_head(maskiou_head)
