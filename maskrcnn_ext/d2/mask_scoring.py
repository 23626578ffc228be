"""Mask Scoring R-CNN (Huang et al. 2019) in detectron2: its ``StandardROIHeads`` with this toolkit's
MaskIoU head, targets and scoring, and a COCO evaluator that ranks masks by their mask score.
(:mod:`~maskrcnn_ext.d2.mask_scoring_c4` hosts the same mixin in ``Res5ROIHeads``.)

Inference keeps the box ``scores`` and adds ``mask_scores`` (``scores x`` predicted mask IoU) to the
output ``Instances``; detectron2's ``COCOEvaluator`` ranks masks by ``scores``, so evaluate with
:class:`MaskScoringCOCOEvaluator` to see the effect of the mask scores on mask AP.
"""
from __future__ import annotations

from typing import Sequence

import torch
from detectron2.config import configurable
from detectron2.evaluation import COCOEvaluator, DatasetEvaluator
from detectron2.modeling.roi_heads.roi_heads import select_foreground_proposals
from detectron2.structures import BitMasks, Instances, PolygonMasks
from torch import Tensor, nn

from ..modeling.roi_heads.maskiou_head import MaskIoUHead, fraction_inside_boxes, maskiou_targets
from .mask_heads import gt_classes, mask_decoder_of, mask_loss_of, roi_mask_targets, set_pred_masks
from .pooler_roi_heads import ExtPoolerROIHeads

__all__ = ["MaskScoringCOCOEvaluator", "MaskScoringMixin", "MaskScoringROIHeads", "fraction_inside_proposals",
           "maskiou_head_from_cfg"]


class MaskScoringMixin:
    """What the FPN and C4 mask-scoring heads share (put it first among the bases): the MaskIoU head,
    ground-truth tagging of the sampled proposals, and the mask branch's losses and inference once
    the RoI features and mask logits are computed. Each host decides which features those are.
    """

    maskiou_head: nn.Module

    def _attach_maskiou_head(self, maskiou_head: nn.Module) -> None:
        name = type(self).__name__
        if not self.mask_on:
            raise ValueError(f"{name} needs a mask branch (a mask_head; MODEL.MASK_ON in a yacs config)")
        if not callable(getattr(self.mask_head, "layers", None)):
            raise ValueError(f"{name} needs a mask head with layers(x) -> logits, got {type(self.mask_head).__name__}")
        self.maskiou_head = maskiou_head

    @torch.no_grad()
    def label_and_sample_proposals(self, proposals: list[Instances], targets: list[Instances]) -> list[Instances]:
        """detectron2's sampling, with each sampled proposal also carrying ``gt_index``, the index of
        its matched ground-truth instance: the MaskIoU target measures that whole instance."""
        tagged = []
        for target in targets:
            target = Instances(target.image_size, **target.get_fields())  # the caller's targets stay as they are
            target.gt_index = torch.arange(len(target), device=target.gt_classes.device)
            tagged.append(target)
        return super().label_and_sample_proposals(proposals, tagged)

    def mask_scoring_losses(self, roi_features: Tensor, mask_logits: Tensor,
                            instances: list[Instances]) -> dict[str, Tensor]:
        """The mask head's ``loss_mask`` and the MaskIoU head's ``loss_maskiou``.

        Args:
            roi_features: ``(R, C, S, S)`` features of the foreground proposals the MaskIoU head reads.
            mask_logits: ``(R, K, M, M)`` mask-head output for them.
            instances: per image its foreground proposals (``proposal_boxes``, ``gt_classes``,
                ``gt_masks``, ``gt_index``).
        """
        loss_fn = mask_loss_of(self.mask_head)
        device = mask_logits.device
        classes = gt_classes(instances, device)
        targets = roi_mask_targets(instances, mask_logits.shape[-1], device)  # cropped once for both losses
        loss_weight = getattr(self.mask_head, "loss_weight", 1.0)
        losses = {"loss_mask": loss_fn(mask_logits, classes, targets) * loss_weight}
        with torch.no_grad():
            probs = mask_decoder_of(self.mask_head)(mask_logits, classes)
            iou = maskiou_targets(probs, targets, fraction_inside_proposals(instances, device))
        predicted = self.maskiou_head(roi_features, probs)
        losses["loss_maskiou"] = self.maskiou_head.loss(predicted, classes, iou)
        return losses

    def mask_scoring_inference(self, roi_features: Tensor, mask_logits: Tensor,
                               instances: list[Instances]) -> list[Instances]:
        """Set ``pred_masks`` and ``mask_scores = scores x clamp(predicted IoU, 0, 1)`` per detection."""
        classes = torch.cat([x.pred_classes for x in instances])
        probs = mask_decoder_of(self.mask_head)(mask_logits, classes)
        set_pred_masks(instances, probs)
        scores = torch.cat([x.scores for x in instances])
        mask_scores = self.maskiou_head.predict(self.maskiou_head(roi_features, probs), classes, scores)
        for inst, s in zip(instances, mask_scores.split([len(x) for x in instances])):
            inst.mask_scores = s
        return instances


def maskiou_head_from_cfg(cfg, *, in_channels: int, pooler_resolution: int) -> MaskIoUHead:
    """yacs: the MaskIoU head of ``MODEL.ROI_MASKIOU_HEAD`` (added by
    :func:`~maskrcnn_ext.d2.add_maskrcnn_ext_config`) for RoI features of ``in_channels`` x
    ``pooler_resolution`` squared."""
    if "ROI_MASKIOU_HEAD" not in cfg.MODEL:
        raise KeyError("The mask-scoring ROI heads read MODEL.ROI_MASKIOU_HEAD: call "
                       "maskrcnn_ext.d2.add_maskrcnn_ext_config(cfg) before merging the config file")
    head = cfg.MODEL.ROI_MASKIOU_HEAD
    return MaskIoUHead(in_channels=in_channels, pooler_resolution=pooler_resolution,
                       num_classes=cfg.MODEL.ROI_HEADS.NUM_CLASSES, conv_dims=tuple(head.CONV_DIMS),
                       fc_dims=tuple(head.FC_DIMS), loss_weight=head.LOSS_WEIGHT)


class MaskScoringROIHeads(MaskScoringMixin, ExtPoolerROIHeads):
    """``StandardROIHeads`` whose masks are scored by a MaskIoU head.

    Only the mask branch changes (``_forward_mask``): training adds ``loss_maskiou`` on the
    foreground proposals; inference sets ``mask_scores`` beside the unchanged ``scores``. The mask
    head must expose ``layers(x)`` (every ``BaseMaskRCNNHead`` does); its loss is its own
    ``mask_loss_fn`` for this bridge's heads, the sigmoid loss for detectron2's, and its masks are
    decoded with the decoder that loss names. The MaskIoU head reads the mask pooler's output.
    From yacs, the poolers may be of this bridge's types (:class:`ExtPoolerROIHeads`).

    Args:
        maskiou_head: :class:`~maskrcnn_ext.modeling.roi_heads.MaskIoUHead` with ``in_channels`` and
            ``pooler_resolution`` those of the mask pooler's output.
        Others: as ``StandardROIHeads``; a mask branch with a ``mask_pooler`` is required.
    """

    @configurable
    def __init__(self, *, maskiou_head: nn.Module, **kwargs) -> None:
        super().__init__(**kwargs)
        if self.mask_on and self.mask_pooler is None:
            raise ValueError("MaskScoringROIHeads needs a mask branch with a mask pooler "
                             "(mask_in_features, mask_pooler and mask_head)")
        self._attach_maskiou_head(maskiou_head)

    @classmethod
    def _init_mask_head(cls, cfg, input_shape) -> dict:
        """yacs: detectron2's mask branch plus a MaskIoU head from ``MODEL.ROI_MASKIOU_HEAD``."""
        ret = super()._init_mask_head(cfg, input_shape)
        if not ret or ret["mask_pooler"] is None:
            raise ValueError("MaskScoringROIHeads needs MODEL.MASK_ON and a ROI_MASK_HEAD.POOLER_TYPE")
        ret["maskiou_head"] = maskiou_head_from_cfg(
            cfg, in_channels=input_shape[ret["mask_in_features"][0]].channels,
            pooler_resolution=cfg.MODEL.ROI_MASK_HEAD.POOLER_RESOLUTION)
        return ret

    def _forward_mask(self, features: dict[str, Tensor],
                      instances: list[Instances]) -> dict[str, Tensor] | list[Instances]:
        """Training: ``{"loss_mask", "loss_maskiou"}``; inference: ``instances`` with ``pred_masks``
        ``(D, 1, M, M)`` and ``mask_scores`` ``(D,)``."""
        if self.training:
            instances, _ = select_foreground_proposals(instances, self.num_classes)
        boxes = [x.proposal_boxes if self.training else x.pred_boxes for x in instances]
        roi_features = self.mask_pooler([features[f] for f in self.mask_in_features], boxes)
        mask_logits = self.mask_head.layers(roi_features)
        if self.training:
            return self.mask_scoring_losses(roi_features, mask_logits, instances)
        return self.mask_scoring_inference(roi_features, mask_logits, instances)


def fraction_inside_proposals(instances: Sequence[Instances], device: torch.device) -> Tensor:
    """``(R,)`` fraction of each foreground proposal's matched instance that lies inside the proposal.

    Each instance the proposals of an image match is rasterised once at the image's size, however
    many proposals match it, and measured with
    :func:`~maskrcnn_ext.modeling.roi_heads.maskiou_head.fraction_inside_boxes`.
    """
    parts = []
    for inst in instances:
        if not len(inst):
            continue
        if not inst.has("gt_index"):
            raise KeyError("fraction_inside_proposals needs proposals sampled by "
                           "MaskScoringROIHeads.label_and_sample_proposals (they carry gt_index)")
        index = inst.gt_index
        matched, inverse = torch.unique(index, return_inverse=True)
        positions = torch.arange(len(index), device=index.device)
        # One proposal per matched instance: its per-proposal gt_masks entry is that instance's mask.
        first = torch.full_like(matched, len(index)).scatter_reduce(0, inverse, positions, reduce="amin")
        masks = _full_image_masks(inst.gt_masks[first], inst.image_size).to(device)
        parts.append(fraction_inside_boxes(masks, inverse.to(device), inst.proposal_boxes.tensor.to(device)))
    return torch.cat(parts) if parts else torch.zeros(0, device=device)


def _full_image_masks(masks: BitMasks | PolygonMasks, image_size: tuple[int, int]) -> Tensor:
    """``(G, H, W)`` bool masks at the image's size from detectron2's mask structures."""
    if isinstance(masks, BitMasks):
        return masks.tensor
    if isinstance(masks, PolygonMasks):
        return BitMasks.from_polygon_masks(masks, *image_size).tensor
    raise TypeError(f"gt_masks must be BitMasks or PolygonMasks, got {type(masks).__name__}")


class MaskScoringCOCOEvaluator(DatasetEvaluator):
    """COCO bbox AP with boxes ranked by ``scores`` and segm AP with masks ranked by ``mask_scores``
    (outputs without ``mask_scores`` are ranked by ``scores`` for both).

    Two detectron2 ``COCOEvaluator``s do the work; results come back as theirs,
    ``{"bbox": {...}, "segm": {...}}``.

    Args:
        dataset_name, distributed, output_dir: as ``COCOEvaluator`` (``output_dir`` receives the
            segm evaluator's files, whose results carry the mask scores).
        kwargs: further ``COCOEvaluator`` keyword arguments (e.g. ``max_dets_per_image``).
    """

    def __init__(self, dataset_name: str, distributed: bool = True, output_dir: str | None = None, **kwargs) -> None:
        # The evaluator with the output_dir comes first: for a dataset not in COCO format it writes the
        # COCO json there and records it in the dataset's metadata, where the second one finds it.
        self._masks = COCOEvaluator(dataset_name, tasks=("segm",), distributed=distributed, output_dir=output_dir,
                                    **kwargs)
        self._boxes = COCOEvaluator(dataset_name, tasks=("bbox",), distributed=distributed, **kwargs)

    def reset(self) -> None:
        self._boxes.reset()
        self._masks.reset()

    def process(self, inputs: list[dict], outputs: list[dict]) -> None:
        self._boxes.process(inputs, [_with_fields(o, drop="pred_masks") for o in outputs])
        self._masks.process(inputs, [_with_fields(o, scores_from="mask_scores") for o in outputs])

    def evaluate(self) -> dict:
        results = dict(self._boxes.evaluate() or {})
        results.update(self._masks.evaluate() or {})
        return results


def _with_fields(output: dict, *, drop: str | None = None, scores_from: str | None = None) -> dict:
    """A shallow copy of a model output whose ``instances`` lack ``drop`` (the box evaluator needs
    no masks) or take their ``scores`` from ``scores_from`` when they have it."""
    instances = output.get("instances")
    if instances is None:
        return output
    fields = {k: v for k, v in instances.get_fields().items() if k != drop}
    if scores_from is not None and scores_from in fields:
        fields["scores"] = fields[scores_from]
    return {**output, "instances": Instances(instances.image_size, **fields)}
