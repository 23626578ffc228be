# Table 2a, R-101-C4, at CPU scale: the toolkit's stand-in for R-101, a ResNet-34 at the R-50 stand-in's
# half width (basic blocks 3-4-6 in the backbone, 3 in the ROI heads' res5; the same channels).
from ..common.resnets import bottom_up, stage
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone = bottom_up("resnet34", width=32, norm="BN", out_features=["res4"], num_stages=3)
model.roi_heads.res5 = stage("resnet34", width=32, index=3, norm="BN")
train.output_dir = "./output/d2_bridge/shapes/a_R_101_C4"
