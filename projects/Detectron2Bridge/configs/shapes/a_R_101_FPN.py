# Table 2a, R-101-FPN, at CPU scale: the toolkit's stand-in for R-101, a ResNet-34 at half width
# (basic blocks 3-4-6-3, the same channels as the R-50 stand-in).
from ..common.resnets import bottom_up
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up = bottom_up("resnet34", width=32, norm="BN", out_features=["res2", "res3", "res4", "res5"])
train.output_dir = "./output/d2_bridge/shapes/a_R_101_FPN"
