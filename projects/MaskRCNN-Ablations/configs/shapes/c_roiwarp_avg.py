# Table 2c, RoIWarp (avg), at CPU scale; the arm is c_roiwarp_avg in ../arms.py.
from ..arms import c_roiwarp_avg
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

c_roiwarp_avg(model)
train.output_dir = "./output/ablations/shapes/c_roiwarp_avg"
