# Table 2c, RoIWarp (avg), at COCO scale; the arm is c_roiwarp_avg in ../common/arms.py.
from ..common.arms import c_roiwarp_avg
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

c_roiwarp_avg(model)
train.output_dir = "./output/d2_bridge/coco/c_roiwarp_avg"
