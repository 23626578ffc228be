# Table 2a, R-101-C4: a deeper backbone (23 res4 blocks instead of 6).
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.arch = "resnet101"

train.output_dir = "./output/ablations/coco/a_R_101_C4"
