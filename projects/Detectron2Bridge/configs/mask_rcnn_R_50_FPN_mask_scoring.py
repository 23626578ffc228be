# Mask Scoring R-CNN (Huang et al. 2019): the baseline's ROI heads with this toolkit's MaskIoU head (the
# 14x14 mask-pooler features and the 28x28 mask max-pooled to 14x14; four 3x3 convs of 256, the last
# with stride 2; two fc of 1024; one IoU per class; L2 loss of weight 1). Masks are ranked by
# score x predicted IoU, so the evaluator reports segm AP with mask scores and bbox AP with box scores.
from detectron2.config import LazyCall as L

from maskrcnn_ext.d2 import MaskScoringCOCOEvaluator, MaskScoringROIHeads
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.roi_heads._target_ = MaskScoringROIHeads
model.roi_heads.maskiou_head = L(MaskIoUHead)(
    in_channels=256,  # the mask pooler's output: FPN channels x 14 x 14
    pooler_resolution=14,
    num_classes="${..num_classes}",
    conv_dims=[256, 256, 256, 256],
    fc_dims=[1024, 1024],
    loss_weight=1.0,
)
dataloader.evaluator._target_ = MaskScoringCOCOEvaluator

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_mask_scoring"
