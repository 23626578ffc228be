# Table 2c, RoIAlign (max), at CPU scale; the arm is c_roialign_max in ../common/arms.py.
from ..common.arms import c_roialign_max
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

c_roialign_max(model)
train.output_dir = "./output/d2_bridge/shapes/c_roialign_max"
