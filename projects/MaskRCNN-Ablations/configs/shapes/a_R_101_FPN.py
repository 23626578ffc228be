# Table 2a, R-101-FPN.
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnet34"  # the CPU-scale stand-in for R-101
