# Table 2a, R-50-FPN: the FPN root unchanged (also 2e's FCN arm and Table 3's Mask R-CNN), at COCO scale.
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

train.output_dir = "./output/d2_bridge/coco/a_R_50_FPN"
