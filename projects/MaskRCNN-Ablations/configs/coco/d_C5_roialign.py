# Table 2d, RoIAlign on R-50-C5 (stride 32): the C5 root unchanged.
from .base_R_50_C5 import dataloader, lr_multiplier, model, optimizer, train

train.output_dir = "./output/ablations/coco/d_C5_roialign"
