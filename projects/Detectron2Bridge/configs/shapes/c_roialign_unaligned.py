# Table 2c, RoIAlign (avg) without the half-pixel shift, at CPU scale; the arm is c_roialign_unaligned
# in ../common/arms.py.
from ..common.arms import c_roialign_unaligned
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

c_roialign_unaligned(model)
train.output_dir = "./output/d2_bridge/shapes/c_roialign_unaligned"
