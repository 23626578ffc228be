# Table 2d, RoIAlign on C5: the C5 root unchanged, at CPU scale.
from .base_R_50_C5 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

train.output_dir = "./output/d2_bridge/shapes/d_C5_roialign"
