# Table 2a, R-50-FPN: the FPN root unchanged (also the FCN arm of 2e and the Mask R-CNN row of Table 3).
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

train.output_dir = "./output/ablations/coco/a_R_50_FPN"
