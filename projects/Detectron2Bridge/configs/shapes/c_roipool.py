# Table 2c, RoIPool, at CPU scale; the arm is c_roipool in ../common/arms.py.
from ..common.arms import c_roipool
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

c_roipool(model)
train.output_dir = "./output/d2_bridge/shapes/c_roipool"
