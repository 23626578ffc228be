# Table 2a, X-101-FPN: ResNeXt-101 32x8d (grouped 3x3 convs, 32 groups).
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnext101_32x8d"

train.output_dir = "./output/ablations/coco/a_X_101_FPN"
