# Table 2a, R-101-C4, at COCO scale: ResNet-101 (23 res4 blocks instead of 6), from MSRA's ImageNet R-101.
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.stages.depth = 101
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/d2_bridge/coco/a_R_101_C4"
