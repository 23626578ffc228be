# Table 2a, R-101-C4: a deeper backbone (23 res4 blocks instead of 6).
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.arch = "resnet34"  # the CPU-scale stand-in for R-101: the deeper ResNet of the same width
