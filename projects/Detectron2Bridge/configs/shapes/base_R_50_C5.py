# Root of sub-table (d) at CPU scale: the C5 model of ../common/mask_rcnn_c5.py (everything on res5,
# stride 32) with the FPN root's CPU-sized parts: a ResNet-18 at half width (res5 256 channels), a
# 256-wide box head, a 64-channel mask head, 128 RoIs per image, RoIAlign on 2x2 samples per bin.

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.mask_rcnn_c5 import model
from ..common.resnets import bottom_up
from .heads import cpu_sized_heads
from .recipe import dataloader, lr_multiplier, optimizer, train

RES5_CHANNELS = 256

model.backbone = bottom_up("resnet18", width=32, norm="BN", out_features=["res5"])
cpu_sized_heads(model, channels=RES5_CHANNELS, anchor_sizes=[[16, 32, 64, 128, 256]])

train.output_dir = "./output/d2_bridge/shapes/R_50_C5"
