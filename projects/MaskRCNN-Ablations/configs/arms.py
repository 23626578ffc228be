# Every arm of the study, written once: a function that makes the arm's changes, and only those, to the
# model of its root (a base_R_50_*.py). coco/<arm>.py and shapes/<arm>.py are the arm at each scale: the
# scale's root with the arm applied, e.g. shapes/c_roipool.py:
#
#     from ..arms import c_roipool
#     from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train
#
#     c_roipool(model)
#     train.output_dir = "./output/ablations/shapes/c_roipool"
#
# A backbone arm's coco file then calls imagenet_pretrained (configs/common/imagenet.py): the deeper backbone
# starts from its own ImageNet file, with the input options that file needs. The shapes scale trains from
# scratch.
#
# @_arm names each arm's root and the config keys it changes (a key covers the keys below it);
# tests/config/test_ablation_arms.py checks that each arm file differs from its root in those keys only
# (and, at COCO scale, in the options that follow the backbone's arch).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.modeling.roi_heads import MaskRCNNMLPHead, SoftmaxMaskLoss


def _arm(root, *changes):
    def mark(apply):
        apply.root, apply.changes = root, changes
        return apply

    return mark


# The deeper backbones of sub-table (a), by the root's backbone: the paper's for an R-50 root, at COCO
# scale and at the quarter width of configs/shapes_2a; for the half-width ResNet-18 root of
# configs/shapes (its first CPU-scale stand-ins) the ResNet of the same width one size deeper, and a
# ResNeXt-50 32x4d at a quarter width (README, "The CPU scale").
_R_101 = {"resnet50": dict(arch="resnet101"), "resnet18": dict(arch="resnet34")}
_X_101 = {"resnet50": dict(arch="resnext101_32x8d"), "resnet18": dict(arch="resnext50_32x4d", width=16)}


def _deeper(backbone, table, name):
    if backbone.arch not in table:
        raise ValueError(f"the {name} arm has no backbone for a {backbone.arch!r} root; known roots: {list(table)}")
    backbone.update(table[backbone.arch])
    width = backbone.get("width", 64)
    if backbone.arch.startswith("resnext") and backbone.arch.endswith("8d") and width < 64:
        # A narrower ResNeXt keeps 8 channels per group (groups scale with the width), not 8 x width / 64:
        # at a quarter width 32 groups of 2 channels would make each 3x3 conv nearly depthwise.
        backbone.update(groups=32 * width // 64, width_per_group=8 * 64 // width)


def _poolers(model):
    return model.roi_heads.box_pooler, model.roi_heads.mask_pooler


def _roipool(model):
    for pooler in _poolers(model):
        pooler.op = "maskrcnn_ext.layers.ROIPool"
        del pooler.sampling_ratio, pooler.aligned  # RoIPool takes whole cells: no samples, no half-pixel shift


def _roiwarp(model, aggregate):
    for pooler in _poolers(model):
        pooler.update(op="maskrcnn_ext.layers.ROIWarp", aggregate=aggregate)
        del pooler.aligned  # RoIWarp rounds the RoI to the grid: nothing to align


def _mlp_mask_head(model, fc_dims):
    model.roi_heads.mask_head = L(MaskRCNNMLPHead)(
        in_channels="${...backbone.out_channels}", pooler_resolution="${..mask_pooler.output_size}",
        num_classes="${..num_classes}", fc_dims=fc_dims, mask_size=28)


# Table 2a, backbone.


@_arm("base_R_50_C4")
def a_R_50_C4(model):
    """R-50-C4: the C4 root unchanged (also the sigmoid arm of 2b and the RoIAlign-avg arm of 2c)."""


@_arm("base_R_50_C4", "model.backbone.arch")
def a_R_101_C4(model):
    """R-101-C4: a deeper backbone (23 res4 blocks instead of 6)."""
    _deeper(model.backbone, _R_101, "R-101")


@_arm("base_R_50_FPN")
def a_R_50_FPN(model):
    """R-50-FPN: the FPN root unchanged (also the FCN arm of 2e and the Mask R-CNN row of Table 3)."""


@_arm("base_R_50_FPN", "model.backbone.bottom_up.arch")
def a_R_101_FPN(model):
    """R-101-FPN."""
    _deeper(model.backbone.bottom_up, _R_101, "R-101")


@_arm("base_R_50_FPN", "model.backbone.bottom_up")
def a_X_101_FPN(model):
    """X-101-FPN: ResNeXt-101 32x8d (grouped 3x3 convs, 32 groups)."""
    _deeper(model.backbone.bottom_up, _X_101, "X-101")


# Table 2b, mask loss, and the class-agnostic masks of section 4.2 (C4).


@_arm("base_R_50_C4", "model.roi_heads.mask_loss")
def b_softmax(model):
    """Multinomial masks: a per-pixel softmax across classes instead of independent sigmoids."""
    model.roi_heads.mask_loss = L(SoftmaxMaskLoss)()


@_arm("base_R_50_C4", "model.roi_heads.mask_head.cls_agnostic")
def class_agnostic(model):
    """Class-agnostic masks: one mask for every class."""
    model.roi_heads.mask_head.cls_agnostic = True


# Table 2c, the RoI layer on C4 (stride 16): the box and mask poolers. The root's is RoIAlign, 4
# bilinear samples per bin (sampling_ratio 2), averaged.

_POOLERS = ("model.roi_heads.box_pooler", "model.roi_heads.mask_pooler")


@_arm("base_R_50_C4", *_POOLERS)
def c_roipool(model):
    """RoIPool: RoI corners and bin edges rounded to the feature grid, max over each bin."""
    _roipool(model)


@_arm("base_R_50_C4", *_POOLERS)
def c_roiwarp_max(model):
    """RoIWarp (max): RoI corners rounded, then 4 bilinear samples per bin, max."""
    _roiwarp(model, "max")


@_arm("base_R_50_C4", *_POOLERS)
def c_roiwarp_avg(model):
    """RoIWarp (avg): RoI corners rounded, then 4 bilinear samples per bin, averaged."""
    _roiwarp(model, "avg")


@_arm("base_R_50_C4", *_POOLERS)
def c_roialign_max(model):
    """RoIAlign (max): no rounding, 4 bilinear samples per bin, max."""
    for pooler in _poolers(model):
        pooler.aggregate = "max"


@_arm("base_R_50_C4", *_POOLERS)
def c_roialign_unaligned(model):
    """RoIAlign (avg) in the paper's original coordinates (no half-pixel shift)."""
    for pooler in _poolers(model):
        pooler.aligned = False


# Table 2d, the RoI layer on C5 (stride 32).


@_arm("base_R_50_C5")
def d_C5_roialign(model):
    """RoIAlign on R-50-C5: the C5 root unchanged."""


@_arm("base_R_50_C5", *_POOLERS)
def d_C5_roipool(model):
    """RoIPool on R-50-C5, where quantization costs most: c_roipool's change on the C5 root."""
    _roipool(model)


# Table 2e, the mask head on FPN (the root's: 4 convs, FCN).


@_arm("base_R_50_FPN", "model.roi_heads.mask_head")
def e_mlp_2fc(model):
    """MLP mask head: fc 1024-1024 then fc K x 28 x 28 on the same 14x14 pooled features."""
    _mlp_mask_head(model, [1024, 1024])


@_arm("base_R_50_FPN", "model.roi_heads.mask_head")
def e_mlp_3fc(model):
    """MLP mask head with three hidden fc layers (1024-1024-1024)."""
    _mlp_mask_head(model, [1024, 1024, 1024])


# Table 3, multi-task training.


@_arm("base_R_50_FPN", "model.roi_heads.mask_in_features", "model.roi_heads.mask_pooler",
      "model.roi_heads.mask_head")
def t3_faster_rcnn(model):
    """Faster R-CNN with RoIAlign: the FPN model with the mask branch off, for box AP."""
    model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
