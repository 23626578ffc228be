# Table 2a, X-101-FPN, at CPU scale: the toolkit's stand-in for ResNeXt-101 32x8d, a ResNeXt-50 32x4d at
# a quarter width (stem 16 channels; 32 groups of 1-8 channels in the 3x3 convs; res2-res5 output 64-512
# channels, which the FPN's lateral convs read).
from ..common.resnets import bottom_up
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up = bottom_up("resnext50_32x4d", width=16, norm="BN",
                                     out_features=["res2", "res3", "res4", "res5"])
train.output_dir = "./output/d2_bridge/shapes/a_X_101_FPN"
