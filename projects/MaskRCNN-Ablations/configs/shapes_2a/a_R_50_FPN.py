# Table 2a, R-50-FPN, at CPU scale on the bottleneck stand-ins; the arm is a_R_50_FPN in ../arms.py.
from ..arms import a_R_50_FPN
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

a_R_50_FPN(model)
train.output_dir = "./output/ablations/shapes_2a/a_R_50_FPN"
