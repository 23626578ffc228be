# Mask Scoring R-CNN R-50-FPN, 1x: the baseline plus the paper's MaskIoU head (the 14x14 mask-pooler
# features and the 28x28 mask max-pooled to 14x14; four 3x3 convs of 256, the last with stride 2;
# two FC of 1024; one IoU per class; L2 loss of weight 1). Masks are ranked by score x predicted IoU.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.modeling.roi_heads import MaskIoUHead, MaskScoringROIHeads

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads._target_ = MaskScoringROIHeads
model.roi_heads.maskiou_head = L(MaskIoUHead)(
    in_channels="${..mask_head.in_channels}",
    pooler_resolution=14,  # the mask pooler's output size
    num_classes="${..num_classes}",
    conv_dims=[256, 256, 256, 256],
    fc_dims=[1024, 1024],
    loss_weight=1.0,
)

train.output_dir = "./output/mask_scoring/coco/ms_rcnn_R_50_FPN_1x"
