"""Mask Scoring R-CNN on detectron2's C4 heads: ``Res5ROIHeads`` with this toolkit's MaskIoU head.

As in this toolkit's own :class:`~maskrcnn_ext.modeling.roi_heads.MaskScoringRes5ROIHeads`, the
MaskIoU head reads the features the mask head reads, res5's output for each RoI (``(R, 2048, 7, 7)``
for an R-50 with a 14x14 pooler), beside the predicted mask max-pooled to that size. In training
these are the foreground rows of the box pass's res5 features, as detectron2's C4 heads reuse them
for the mask head; at inference res5 runs on the detections.

``Res5ROIHeads`` has no mask hook, only ``forward`` (training) and ``forward_with_given_boxes``
(inference, called by ``forward``), so those two are overridden; the box branch is detectron2's.
"""
from __future__ import annotations

import torch
from detectron2.config import configurable
from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals
from detectron2.structures import ImageList, Instances
from torch import Tensor, nn

from .mask_scoring import MaskScoringMixin, maskiou_head_from_cfg
from .pooler_roi_heads import ExtPoolerRes5ROIHeads, res5_output_shape

__all__ = ["MaskScoringRes5ROIHeads"]


class MaskScoringRes5ROIHeads(MaskScoringMixin, ExtPoolerRes5ROIHeads):
    """detectron2's ``Res5ROIHeads`` whose masks are scored by a MaskIoU head.

    Training adds ``loss_maskiou`` beside ``loss_mask``; inference sets ``mask_scores`` (``scores x``
    the predicted IoU of each detection's class, clamped to [0, 1]) beside the unchanged ``scores``.
    The mask head must expose ``layers(x)``; its loss and decoding are chosen as for
    :class:`~maskrcnn_ext.d2.MaskScoringROIHeads`. From yacs, the pooler may be of this bridge's
    types (:class:`~maskrcnn_ext.d2.ExtPoolerRes5ROIHeads`).

    Args:
        maskiou_head: :class:`~maskrcnn_ext.modeling.roi_heads.MaskIoUHead` with ``in_channels``
            res5's output channels and ``pooler_resolution`` res5's output side (half the pooler's).
        Others: as ``Res5ROIHeads``; a ``mask_head`` is required.
    """

    @configurable
    def __init__(self, *, maskiou_head: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        self._attach_maskiou_head(maskiou_head)

    @classmethod
    def from_config(cls, cfg, input_shape) -> dict:
        """yacs: detectron2's C4 heads plus a MaskIoU head from ``MODEL.ROI_MASKIOU_HEAD``."""
        if not cfg.MODEL.MASK_ON:
            raise ValueError("MaskScoringRes5ROIHeads needs MODEL.MASK_ON")
        ret = super().from_config(cfg, input_shape)
        shape = res5_output_shape(ret["res5"], cfg.MODEL.ROI_BOX_HEAD.POOLER_RESOLUTION)
        ret["maskiou_head"] = maskiou_head_from_cfg(cfg, in_channels=shape.channels, pooler_resolution=shape.height)
        return ret

    def forward(self, images: ImageList, features: dict[str, Tensor], proposals: list[Instances],
                targets: list[Instances] | None = None) -> tuple[list[Instances], dict[str, Tensor]]:
        """Training: ``([], losses)`` with detectron2's box losses, ``loss_mask`` and
        ``loss_maskiou``; inference: detectron2's, with the masks of :meth:`forward_with_given_boxes`."""
        if not self.training:
            return super().forward(images, features, proposals, targets)
        if not targets:
            raise ValueError("MaskScoringRes5ROIHeads needs targets in training")
        proposals = self.label_and_sample_proposals(proposals, targets)
        res5_features = self._shared_roi_transform([features[f] for f in self.in_features],
                                                   [x.proposal_boxes for x in proposals])
        losses = self.box_predictor.losses(self.box_predictor(res5_features.mean(dim=(2, 3))), proposals)
        foreground, selected = select_foreground_proposals(proposals, self.num_classes)
        # The mask branch reads the foreground rows of the box pass's res5 output, as detectron2's does.
        mask_features = res5_features[torch.cat(selected)]
        losses.update(self.mask_scoring_losses(mask_features, self.mask_head.layers(mask_features), foreground))
        return [], losses

    def forward_with_given_boxes(self, features: dict[str, Tensor], instances: list[Instances]) -> list[Instances]:
        """Inference on detections (``pred_boxes``, ``pred_classes``, ``scores``): sets ``pred_masks``
        ``(D, 1, M, M)`` and ``mask_scores`` ``(D,)``."""
        if self.training:
            raise RuntimeError("forward_with_given_boxes is for inference; call eval() first")
        res5_features = self._shared_roi_transform([features[f] for f in self.in_features],
                                                   [x.pred_boxes for x in instances])
        return self.mask_scoring_inference(res5_features, self.mask_head.layers(res5_features), instances)
