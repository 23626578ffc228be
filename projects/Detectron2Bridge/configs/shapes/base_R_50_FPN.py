# Root of the FPN arms at CPU scale: detectron2's Mask R-CNN R-50-FPN (common/models/mask_rcnn_fpn.py) with
# the toolkit's CPU demo sizes: a ResNet-18 at half width standing in for R-50 (detectron2's BasicBlock,
# trainable BN), a 32-channel FPN, a 256-wide box head, a 64-channel mask head, one anchor size per level
# halved for the small shapes, 128 RoIs per image, 300/50 test proposals, 20 detections, and RoIAlign on
# 2x2 samples per bin.
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.resnets import bottom_up
from .heads import cpu_sized_heads
from .recipe import dataloader, lr_multiplier, optimizer, train

FPN_CHANNELS = 32

model = get_config("common/models/mask_rcnn_fpn.py").model
model.backbone.bottom_up = bottom_up("resnet18", width=32, norm="BN", out_features=["res2", "res3", "res4", "res5"])
model.backbone.out_channels = FPN_CHANNELS
cpu_sized_heads(model, channels=FPN_CHANNELS, anchor_sizes=[[16], [32], [64], [128], [256]])

train.output_dir = "./output/d2_bridge/shapes/R_50_FPN"
