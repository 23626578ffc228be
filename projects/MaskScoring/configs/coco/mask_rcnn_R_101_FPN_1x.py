# Baseline, R-101-FPN 1x.
from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnet101"

train.output_dir = "./output/mask_scoring/coco/mask_rcnn_R_101_FPN_1x"
