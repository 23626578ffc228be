# Mask Scoring R-CNN (Huang et al. 2019) on R-50-C4: the baseline's C4 ROI heads with this toolkit's
# MaskIoU head reading what the mask head reads, res5's 2048 x 7 x 7 output per RoI, beside the 14x14
# mask max-pooled to 7x7 (four 3x3 convs of 256, the last with stride 2; two fc of 1024; one IoU per
# class; L2 loss of weight 1). Masks are ranked by score x predicted IoU, so the evaluator reports segm
# AP with mask scores and bbox AP with box scores.
from detectron2.config import LazyCall as L

from maskrcnn_ext.d2 import MaskScoringCOCOEvaluator, MaskScoringRes5ROIHeads
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead

from .mask_rcnn_R_50_C4_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.roi_heads._target_ = MaskScoringRes5ROIHeads
model.roi_heads.maskiou_head = L(MaskIoUHead)(
    in_channels="${..res5.out_channels}",
    pooler_resolution=7,  # res5 halves the 14x14 pooled res4 features
    num_classes="${..num_classes}",
    conv_dims=[256, 256, 256, 256],
    fc_dims=[1024, 1024],
    loss_weight=1.0,
)
dataloader.evaluator._target_ = MaskScoringCOCOEvaluator

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_C4_mask_scoring"
