# The Mask R-CNN paper's Table 2 (b)-(e) and Table 3 arms on detectron2's models, written once for both
# scales: each function makes the arm's change, and only that, to the model of its root (coco/ or
# shapes/ base_R_50_{C4,C5,FPN}.py). The arm names are those of projects/MaskRCNN-Ablations/configs/arms.py.
# The backbone arms of (a) differ by scale (the paper's backbones at COCO scale, CPU-sized stand-ins on
# shapes), so they live in the arm files themselves.
from detectron2.config import LazyCall as L

from maskrcnn_ext.d2 import ExtROIPooler, MaskRCNNConvUpsampleSoftmaxHead, MaskRCNNMLPHead


def _poolers(model):
    """The RoI poolers an arm of (c) or (d) swaps: C4's one shared pooler, or C5's box and mask poolers."""
    heads = model.roi_heads
    return [heads.pooler] if "pooler" in heads else [heads.box_pooler, heads.mask_pooler]


def _set_poolers(model, **options):
    for pooler in _poolers(model):
        pooler.update(**options)


# Table 2b, mask loss (C4), and the class-agnostic masks of the paper's section 4.2 (C4).


def b_softmax(model):
    """Multinomial masks: the same head trained with a per-pixel softmax across classes."""
    model.roi_heads.mask_head._target_ = MaskRCNNConvUpsampleSoftmaxHead


def class_agnostic(model):
    """One mask for every class: a mask head with one output channel, which detectron2's mask loss
    and inference treat as class-agnostic (its yacs CLS_AGNOSTIC_MASK)."""
    model.roi_heads.mask_head.num_classes = 1


# Table 2c, the RoI layer on C4 (stride 16), and 2d on C5 (stride 32). The roots pool with RoIAlign
# (detectron2's ROIAlignV2: aligned, averaged) on 2x2 samples per bin.


def c_roipool(model):
    """RoIPool: RoI corners and bin edges rounded to the feature grid, max over each bin."""
    _set_poolers(model, pooler_type="ROIPool")


def c_roiwarp_max(model):
    """RoIWarp (max): RoI corners rounded to the grid, then 2x2 bilinear samples per bin, max."""
    _set_poolers(model, _target_=ExtROIPooler, pooler_type="ROIWarp", sampling_ratio=2)


def c_roiwarp_avg(model):
    """RoIWarp (avg): RoI corners rounded to the grid, then 2x2 bilinear samples per bin, averaged."""
    _set_poolers(model, _target_=ExtROIPooler, pooler_type="ROIWarpAvg", sampling_ratio=2)


def c_roialign_max(model):
    """RoIAlign (max): no rounding, 2x2 bilinear samples per bin, max."""
    _set_poolers(model, _target_=ExtROIPooler, pooler_type="ROIAlignV2Max", sampling_ratio=2)


def c_roialign_unaligned(model):
    """RoIAlign (avg) in the paper's original coordinates, without the half-pixel shift."""
    _set_poolers(model, pooler_type="ROIAlign")


d_C5_roipool = c_roipool  # the same change on the C5 root


# Table 2e, the mask head on FPN (the root's: 4 convs, FCN).


def _mlp_mask_head(model, fc_dims):
    model.roi_heads.mask_head = L(MaskRCNNMLPHead)(
        input_shape=model.roi_heads.mask_head.input_shape,  # the same 14x14 pooled features
        num_classes="${..num_classes}", fc_dims=fc_dims, mask_size=28)


def e_mlp_2fc(model):
    """MLP mask head: fc 1024-1024, then fc K x 28 x 28."""
    _mlp_mask_head(model, [1024, 1024])


def e_mlp_3fc(model):
    """MLP mask head with three hidden fc layers (1024-1024-1024)."""
    _mlp_mask_head(model, [1024, 1024, 1024])


# Table 3, multi-task training.


def t3_faster_rcnn(model):
    """Faster R-CNN with RoIAlign: the FPN model with the mask branch off (box AP only)."""
    model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)
