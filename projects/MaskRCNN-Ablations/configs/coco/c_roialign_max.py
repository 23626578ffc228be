# Table 2c, RoIAlign (max), at GPU scale; the arm is c_roialign_max in ../arms.py.
from ..arms import c_roialign_max
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

c_roialign_max(model)
train.output_dir = "./output/ablations/coco/c_roialign_max"
