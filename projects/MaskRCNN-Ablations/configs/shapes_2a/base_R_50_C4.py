# Root of the C4 arms of sub-table (a) at CPU scale: ../shapes/base_R_50_C4.py (heads, anchors and RoI
# sampling) on a bottleneck ResNet-50 at a quarter of the standard width (res4 256, res5 512 channels),
# as in base_R_50_FPN.py.
from ..shapes.base_R_50_C4 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

model.backbone.update(arch="resnet50", width=16)
model.proposal_generator.in_channels = 256  # res4 channels
model.roi_heads.box_predictor.input_dim = 512  # res5 channels (the mask head's too)

train.output_dir = "./output/ablations/shapes_2a/R_50_C4"
