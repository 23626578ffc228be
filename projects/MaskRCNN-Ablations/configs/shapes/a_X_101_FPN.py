# Table 2a, X-101-FPN: ResNeXt-101 32x8d (grouped 3x3 convs, 32 groups).
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

# The CPU-scale stand-in for X-101: ResNeXt-50 32x4d at a quarter width (grouped 3x3 convs).
model.backbone.bottom_up.update(arch="resnext50_32x4d", width=16)
