# Table 2a, R-101-FPN.
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnet101"

train.output_dir = "./output/ablations/coco/a_R_101_FPN"
