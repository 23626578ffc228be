# Table 2a, R-101-FPN, at COCO scale: ResNet-101, from MSRA's ImageNet R-101.
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up.stages.depth = 101
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-101.pkl"
train.output_dir = "./output/d2_bridge/coco/a_R_101_FPN"
