# Table 2a, R-50-C4, at CPU scale on the bottleneck stand-ins; the arm is a_R_50_C4 in ../arms.py.
from ..arms import a_R_50_C4
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

a_R_50_C4(model)
train.output_dir = "./output/ablations/shapes_2a/a_R_50_C4"
