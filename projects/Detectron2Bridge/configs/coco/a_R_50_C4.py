# Table 2a, R-50-C4: the C4 root unchanged (also 2b's sigmoid and 2c's RoIAlign-avg arm), at COCO scale.
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

train.output_dir = "./output/d2_bridge/coco/a_R_50_C4"
