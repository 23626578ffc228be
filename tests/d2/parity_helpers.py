"""The toolkit's own engine beside the bridge: tiny engine ROI heads whose mask hooks the "same
weights, same numbers" tests call, and the conversion of detectron2 proposals into the engine's
per-image dicts (import only after ``pytest.importorskip("detectron2")``)."""
from __future__ import annotations

import torch
from detectron2.structures import BitMasks, Instances
from torch import nn

from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskScoringROIHeads,
    SigmoidMaskLoss,
    StandardROIHeads,
)
from maskrcnn_ext.modeling.roi_heads.mask_head import mask_targets

NUM_CLASSES = 3


def engine_heads(*, mask_head: nn.Module, maskiou_head: nn.Module | None = None, mask_loss=SigmoidMaskLoss(),
                 channels: int = 8) -> StandardROIHeads:
    """The engine's ROI heads around ``mask_head`` (and ``maskiou_head``: mask scoring). Only their
    mask hooks (``mask_losses`` / ``mask_inference``) are used; the box branch is a small stand-in."""
    scoring = {} if maskiou_head is None else {"maskiou_head": maskiou_head}
    cls = StandardROIHeads if maskiou_head is None else MaskScoringROIHeads
    return cls(num_classes=NUM_CLASSES, box_in_features=("p2",),
               box_pooler=build_pooler(output_size=7, strides=(4,), sampling_ratio=2),
               box_head=FastRCNNConvFCHead(in_channels=channels, pooler_resolution=7, fc_dims=(16,)),
               box_predictor=FastRCNNOutputLayers(input_dim=16, num_classes=NUM_CLASSES),
               mask_in_features=("p2",), mask_pooler=build_pooler(output_size=7, strides=(4,), sampling_ratio=2),
               mask_head=mask_head, mask_loss=mask_loss, **scoring)


def full_masks(instances: Instances) -> tuple[torch.Tensor, torch.Tensor]:
    """One image's matched instances as the engine holds ground truth: ``(G, H, W)`` bool masks and
    each proposal's index into them (from ``gt_index``, renumbered to the instances present)."""
    matched, index = torch.unique(instances.gt_index, return_inverse=True)
    first = [int((instances.gt_index == g).nonzero()[0]) for g in matched]
    masks = instances.gt_masks[torch.tensor(first, dtype=torch.int64)]
    assert isinstance(masks, BitMasks)
    return masks.tensor, index


def engine_positives(foreground: list[Instances], mask_size: int) -> tuple[list[dict], list[dict]]:
    """detectron2 foreground proposals (``proposal_boxes``, ``gt_classes``, ``gt_index``, bit
    ``gt_masks``) as the engine's ``positives`` (with ``mask_targets`` cropped by the engine's own
    :func:`mask_targets`) and ``targets`` (``masks``), images in order."""
    positives, targets = [], []
    for inst in foreground:
        height, width = inst.image_size
        if len(inst):
            masks, index = full_masks(inst)
        else:
            masks, index = torch.zeros((0, height, width), dtype=torch.bool), torch.zeros(0, dtype=torch.int64)
        positives.append({"boxes": inst.proposal_boxes.tensor, "gt_classes": inst.gt_classes, "gt_index": index})
        targets.append({"masks": masks})
    crops = mask_targets(positives, [t["masks"] for t in targets], mask_size)
    for p, crop in zip(positives, crops.split([len(p["boxes"]) for p in positives])):
        p["mask_targets"] = crop
    return positives, targets
