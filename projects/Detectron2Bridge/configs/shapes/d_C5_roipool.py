# Table 2d, RoIPool on C5, at CPU scale; the arm is d_C5_roipool in ../common/arms.py.
from ..common.arms import d_C5_roipool
from .base_R_50_C5 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

d_C5_roipool(model)
train.output_dir = "./output/d2_bridge/shapes/d_C5_roipool"
