# Table 2c, RoIAlign (avg) unaligned, at CPU scale; the arm is c_roialign_unaligned in ../arms.py.
from ..arms import c_roialign_unaligned
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

c_roialign_unaligned(model)
train.output_dir = "./output/ablations/shapes/c_roialign_unaligned"
