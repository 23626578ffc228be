# Root of the FPN arms of sub-table (a) at CPU scale: ../shapes/base_R_50_FPN.py (the CPU demo's heads
# and FPN) on a real bottleneck ResNet-50 at a quarter of the standard width (stem 16, res2 64 ... res5
# 512 channels; 3-4-6-3 blocks), so that R-101 (3-4-23-3 at the same width) and ResNeXt-101 are the
# paper's architectural steps from it.
from ..shapes.base_R_50_FPN import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.backbone.bottom_up.update(arch="resnet50", width=16)

train.output_dir = "./output/ablations/shapes_2a/R_50_FPN"
