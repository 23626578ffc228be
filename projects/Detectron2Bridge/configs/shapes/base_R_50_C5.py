# Root of sub-table (d) at CPU scale: the C5 model of ../common/mask_rcnn_c5.py (everything on res5,
# stride 32) with the FPN root's CPU-sized parts: a ResNet-18 at half width (res5 256 channels), a
# 256-wide box head, a 64-channel mask head, 128 RoIs per image, RoIAlign on 2x2 samples per bin.
from detectron2.layers import ShapeSpec

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.mask_rcnn_c5 import model
from ..common.resnets import bottom_up
from .recipe import dataloader, lr_multiplier, optimizer, train

RES5_CHANNELS = 256

model.backbone = bottom_up("resnet18", width=32, norm="BN", out_features=["res5"])
model.update(pixel_mean=[103.53, 116.28, 123.675], pixel_std=[57.375, 57.12, 58.395])  # BGR, as the toolkit's
model.proposal_generator.update(pre_nms_topk=(1000, 300), post_nms_topk=(500, 50))
model.proposal_generator.head.in_channels = RES5_CHANNELS
model.proposal_generator.anchor_generator.sizes = [[16, 32, 64, 128, 256]]
model.roi_heads.update(num_classes=4, batch_size_per_image=128)
model.roi_heads.box_pooler.sampling_ratio = 2
model.roi_heads.mask_pooler.sampling_ratio = 2
model.roi_heads.box_head.update(input_shape=ShapeSpec(channels=RES5_CHANNELS, height=7, width=7), fc_dims=[256, 256])
model.roi_heads.box_predictor.update(input_shape=ShapeSpec(channels=256), test_topk_per_image=20)
model.roi_heads.mask_head.update(input_shape=ShapeSpec(channels=RES5_CHANNELS, height=14, width=14),
                                 conv_dims=[64, 64, 64, 64, 64])  # 4 convs, then the deconv's width

train.output_dir = "./output/d2_bridge/shapes/R_50_C5"
