"""Tiny models and inputs shared by the modeling tests."""
import torch

from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.backbone import FPN, ResNetBottomUp
from maskrcnn_ext.modeling.meta_arch import GeneralizedRCNN
from maskrcnn_ext.modeling.proposal_generator import RPN
from maskrcnn_ext.modeling.roi_heads import (
    FastRCNNConvFCHead,
    FastRCNNOutputLayers,
    MaskIoUHead,
    MaskRCNNConvUpsampleHead,
    MaskScoringROIHeads,
    StandardROIHeads,
)

LEVELS = ("p2", "p3", "p4", "p5")


def build_tiny_model(num_classes: int = 3, channels: int = 16, mask: bool = True,
                     mask_scoring: bool = False, channels_last_inference: bool = False) -> GeneralizedRCNN:
    """A narrow R-18-FPN Mask R-CNN that runs in well under a second per step on CPU; with
    ``mask=False`` the same model without its mask branch (Faster R-CNN), with ``mask_scoring``
    the same model plus a small MaskIoU head (Mask Scoring R-CNN)."""
    heads, scoring = StandardROIHeads, {}
    if mask_scoring:
        heads = MaskScoringROIHeads
        scoring = dict(maskiou_head=MaskIoUHead(in_channels=channels, pooler_resolution=14, num_classes=num_classes,
                                                conv_dims=(8, 8), fc_dims=(32,)))
    mask_branch = dict(
        mask_in_features=LEVELS,
        mask_pooler=build_pooler(output_size=14, strides=(4, 8, 16, 32), sampling_ratio=2),
        mask_head=MaskRCNNConvUpsampleHead(in_channels=channels, num_classes=num_classes, conv_dims=(channels,) * 2),
    ) if mask else {}
    return GeneralizedRCNN(
        backbone=FPN(bottom_up=ResNetBottomUp(arch="resnet18", norm="BN", freeze_at=0), out_channels=channels),
        proposal_generator=RPN(in_features=LEVELS + ("p6",), in_channels=channels,
                               anchor_sizes=((8,), (16,), (32,), (64,), (128,)), pre_nms_topk_train=200,
                               post_nms_topk_train=100, pre_nms_topk_test=100, post_nms_topk_test=50),
        roi_heads=heads(
            num_classes=num_classes, box_in_features=LEVELS, batch_size_per_image=32,
            box_pooler=build_pooler(output_size=7, strides=(4, 8, 16, 32), sampling_ratio=2),
            box_head=FastRCNNConvFCHead(in_channels=channels, pooler_resolution=7, fc_dims=(64, 64)),
            box_predictor=FastRCNNOutputLayers(input_dim=64, num_classes=num_classes),
            **mask_branch, **scoring),
        channels_last_inference=channels_last_inference,
    )


def synthetic_input(height: int = 64, width: int = 96, original: tuple[int, int] | None = None) -> dict:
    """One image with a bright square (class 1) and a bright bar (class 2) on a dark background."""
    image = torch.full((3, height, width), 20, dtype=torch.uint8)
    masks = torch.zeros(2, height, width, dtype=torch.bool)
    masks[0, 8:40, 10:42] = True
    masks[1, 30:50, 50:90] = True
    image[:, masks[0]] = 220
    image[0, masks[1]] = 250
    oh, ow = original or (height, width)
    return {"image": image, "height": oh, "width": ow, "image_id": 0,
            "instances": {"boxes": torch.tensor([[10.0, 8.0, 42.0, 40.0], [50.0, 30.0, 90.0, 50.0]]),
                          "classes": torch.tensor([1, 2]), "masks": masks}}
