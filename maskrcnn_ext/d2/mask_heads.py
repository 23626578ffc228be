"""Mask heads for detectron2's ROI heads, built on this toolkit's mask heads and mask losses.

Both heads follow detectron2's ``BaseMaskRCNNHead`` contract:

- ``layers(x)``: pooled RoI features ``(R, C, S, S)`` -> mask logits ``(R, K, M, M)`` (``K = 1`` when
  class-agnostic);
- ``forward(x, instances)``: in training ``instances`` are the foreground proposals of each image
  (``proposal_boxes``, ``gt_classes``, ``gt_masks``) and it returns ``{"loss_mask": scalar}``; in
  inference they are the detections (``pred_classes``) and it sets ``pred_masks`` ``(D, 1, M, M)``,
  the foreground probability of each detection's class, and returns them.

The loss comes from a mask-loss object of :mod:`maskrcnn_ext.modeling.roi_heads.mask_losses`
(``mask_loss_fn``) and inference decodes with the decoder that loss names
(:func:`~maskrcnn_ext.modeling.roi_heads.mask_decoder_for`): the multinomial loss must be decoded as
it was trained, which detectron2's sigmoid-only ``mask_rcnn_inference`` would not do.
"""
from __future__ import annotations

from typing import Sequence

import torch
from detectron2.config import configurable
from detectron2.layers import ShapeSpec
from detectron2.modeling.roi_heads.mask_head import BaseMaskRCNNHead, MaskRCNNConvUpsampleHead
from detectron2.structures import Instances
from torch import Tensor

from ..modeling.roi_heads import mlp_mask_head
from ..modeling.roi_heads.mask_losses import MaskDecoder, MaskLoss, SigmoidMaskLoss, SoftmaxMaskLoss, mask_decoder_for
from ..registry import MASK_LOSS_REGISTRY, build_from_registry

__all__ = ["MaskLossHeadMixin", "MaskRCNNConvUpsampleSoftmaxHead", "MaskRCNNMLPHead", "gt_classes", "mask_decoder_of",
           "mask_loss_of", "roi_mask_targets", "set_pred_masks"]


def gt_classes(instances: Sequence[Instances], device: torch.device) -> Tensor:
    """``(R,)`` int64 ground-truth class of every foreground proposal, images in order."""
    parts = [inst.gt_classes for inst in instances if len(inst)]
    return torch.cat(parts).to(device=device, dtype=torch.int64) if parts else torch.zeros(0, dtype=torch.int64,
                                                                                          device=device)


def roi_mask_targets(instances: Sequence[Instances], mask_size: int, device: torch.device) -> Tensor:
    """``(R, M, M)`` float targets in {0, 1}: each proposal's matched ground-truth mask cropped to the
    proposal box and resized, exactly as detectron2's own mask loss crops them (``gt_masks`` may be
    ``PolygonMasks`` or ``BitMasks``)."""
    # Images without foreground proposals may lack gt_masks altogether (no ground truth at all).
    crops = [inst.gt_masks.crop_and_resize(inst.proposal_boxes.tensor, mask_size).to(device)
             for inst in instances if len(inst)]
    if not crops:
        return torch.zeros((0, mask_size, mask_size), device=device)
    return torch.cat(crops).to(torch.float32)


def set_pred_masks(instances: Sequence[Instances], probs: Tensor) -> None:
    """Split ``(D, M, M)`` probabilities over the images' detections as ``pred_masks`` ``(Di, 1, M, M)``,
    the layout detectron2's post-processing pastes into the image."""
    for inst, p in zip(instances, probs.split([len(inst) for inst in instances])):
        inst.pred_masks = p[:, None]


def mask_loss_of(mask_head: object) -> MaskLoss:
    """The mask loss a mask head trains with: its ``mask_loss_fn`` for this bridge's heads, the
    sigmoid loss for detectron2's own ``BaseMaskRCNNHead`` heads."""
    return getattr(mask_head, "mask_loss_fn", _SIGMOID)


def mask_decoder_of(mask_head: object) -> MaskDecoder:
    """``(logits (D, K, M, M), classes (D,)) -> (D, M, M)``: the decoding that matches
    :func:`mask_loss_of` the head, derived from it so that the two cannot disagree."""
    return mask_decoder_for(mask_loss_of(mask_head))


_SIGMOID = SigmoidMaskLoss()


class MaskLossHeadMixin:
    """``forward`` for a ``BaseMaskRCNNHead`` trained with ``mask_loss_fn`` and decoded with the
    decoder that loss names.

    Put it first among the bases; the head keeps its ``layers`` and detectron2's ``loss_weight``.
    """

    mask_loss_fn: MaskLoss = _SIGMOID
    loss_weight: float

    def forward(self, x: Tensor, instances: list[Instances]) -> dict[str, Tensor] | list[Instances]:
        logits = self.layers(x)
        if self.training:
            targets = roi_mask_targets(instances, logits.shape[-1], logits.device)
            return self.mask_losses(logits, gt_classes(instances, logits.device), targets)
        classes = torch.cat([inst.pred_classes for inst in instances])
        set_pred_masks(instances, mask_decoder_for(self.mask_loss_fn)(logits, classes))
        return instances

    def mask_losses(self, logits: Tensor, classes: Tensor, targets: Tensor) -> dict[str, Tensor]:
        """``{"loss_mask"}`` for ``(R, K, M, M)`` logits, ``(R,)`` classes and ``(R, M, M)`` targets."""
        return {"loss_mask": self.mask_loss_fn(logits, classes, targets) * self.loss_weight}


class MaskRCNNMLPHead(MaskLossHeadMixin, BaseMaskRCNNHead):
    """The MLP mask head of the Mask R-CNN paper's Table 2e: fully connected layers predict every
    mask pixel (:class:`maskrcnn_ext.modeling.roi_heads.MaskRCNNMLPHead` inside).

    Args:
        input_shape: the pooled features; ``channels`` and ``height`` (= ``width``, the pooler's
            output size) set the first layer's width.
        num_classes: masks predicted per RoI (1 for class-agnostic masks, as detectron2's heads).
        fc_dims: widths of the hidden fully connected layers.
        mask_size: side M of the predicted masks.
        mask_loss: the mask loss object, e.g. ``L(SoftmaxMaskLoss)()`` in a lazy config; default the
            paper's :class:`~maskrcnn_ext.modeling.roi_heads.SigmoidMaskLoss`. Inference decodes with
            the decoder it names. (yacs configs give its registered name in ``MLP_LOSS_TYPE``.)
        loss_weight, vis_period: as detectron2's ``BaseMaskRCNNHead``.
    """

    @configurable
    def __init__(self, *, input_shape: ShapeSpec, num_classes: int, fc_dims: Sequence[int] = (1024, 1024),
                 mask_size: int = 28, mask_loss: MaskLoss = _SIGMOID, **kwargs) -> None:
        super().__init__(**kwargs)
        if input_shape.height is None or input_shape.height != input_shape.width:
            raise ValueError(f"MaskRCNNMLPHead needs square pooled features with a known size, got {input_shape}")
        mask_decoder_for(mask_loss)  # refuses a loss that names no decoder now, not at the first inference
        self.mask_loss_fn = mask_loss
        self.mlp = mlp_mask_head.MaskRCNNMLPHead(
            in_channels=input_shape.channels, pooler_resolution=input_shape.height, num_classes=num_classes,
            fc_dims=tuple(fc_dims), mask_size=mask_size)

    @classmethod
    def from_config(cls, cfg, input_shape: ShapeSpec) -> dict:
        """yacs: ``MODEL.ROI_MASK_HEAD.{MLP_FC_DIMS, MLP_MASK_SIZE, MLP_LOSS_TYPE}`` (added by
        :func:`~maskrcnn_ext.d2.add_maskrcnn_ext_config`) besides detectron2's keys. yacs has only
        strings, so ``MLP_LOSS_TYPE`` is a name in ``MASK_LOSS_REGISTRY``, built here."""
        head = cfg.MODEL.ROI_MASK_HEAD
        if "MLP_FC_DIMS" not in head:
            raise KeyError("MaskRCNNMLPHead reads MODEL.ROI_MASK_HEAD.MLP_*: call "
                           "maskrcnn_ext.d2.add_maskrcnn_ext_config(cfg) before merging the config file")
        ret = super().from_config(cfg, input_shape)
        ret.update(input_shape=input_shape, fc_dims=tuple(head.MLP_FC_DIMS), mask_size=head.MLP_MASK_SIZE,
                   mask_loss=build_from_registry(MASK_LOSS_REGISTRY, head.MLP_LOSS_TYPE),
                   num_classes=1 if head.CLS_AGNOSTIC_MASK else cfg.MODEL.ROI_HEADS.NUM_CLASSES)
        return ret

    def layers(self, x: Tensor) -> Tensor:
        """``(R, C, S, S)`` -> ``(R, K, M, M)`` mask logits."""
        return self.mlp(x)


class MaskRCNNConvUpsampleSoftmaxHead(MaskLossHeadMixin, MaskRCNNConvUpsampleHead):
    """detectron2's FCN mask head (``MaskRCNNConvUpsampleHead``, same arguments and layers) trained
    with the multinomial loss of the paper's Table 2b: per pixel a softmax over the K class masks and
    background (:class:`~maskrcnn_ext.modeling.roi_heads.SoftmaxMaskLoss`), and decoded to match.
    """

    mask_loss_fn = SoftmaxMaskLoss()
