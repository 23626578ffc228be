# Section 4.2 text, class-agnostic masks: one mask for every class (R-50-C4).
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.mask_head.cls_agnostic = True

train.output_dir = "./output/ablations/coco/class_agnostic"
