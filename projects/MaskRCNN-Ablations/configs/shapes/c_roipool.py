# Table 2c, RoIPool, at CPU scale; the arm is c_roipool in ../arms.py.
from ..arms import c_roipool
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

c_roipool(model)
train.output_dir = "./output/ablations/shapes/c_roipool"
