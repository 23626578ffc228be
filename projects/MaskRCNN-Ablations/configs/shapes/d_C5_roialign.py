# Table 2d, RoIAlign on C5: the C5 root unchanged, at CPU scale; the arm is d_C5_roialign in ../arms.py.
from ..arms import d_C5_roialign
from .base_R_50_C5 import dataloader, lr_multiplier, model, optimizer, train

d_C5_roialign(model)
train.output_dir = "./output/ablations/shapes/d_C5_roialign"
