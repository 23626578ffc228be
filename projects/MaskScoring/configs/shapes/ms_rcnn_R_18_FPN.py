# Mask Scoring R-CNN at CPU scale: the baseline plus a MaskIoU head narrowed like the rest of the
# CPU model (convs of 64 instead of 256, FC of 256 instead of 1024).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead, MaskScoringROIHeads

from .mask_rcnn_R_18_FPN import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads._target_ = MaskScoringROIHeads
model.roi_heads.maskiou_head = L(MaskIoUHead)(
    in_channels="${..mask_head.in_channels}",
    pooler_resolution=14,
    num_classes="${..num_classes}",
    conv_dims=[64, 64, 64, 64],
    fc_dims=[256, 256],
    loss_weight=1.0,
)

train.output_dir = "./output/mask_scoring/shapes/ms_rcnn_R_18_FPN"
