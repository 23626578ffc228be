# Table 2a, X-101-FPN, at CPU scale on the bottleneck stand-ins; the arm is a_X_101_FPN in ../arms.py.
from ..arms import a_X_101_FPN
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

a_X_101_FPN(model)
train.output_dir = "./output/ablations/shapes_2a/a_X_101_FPN"
