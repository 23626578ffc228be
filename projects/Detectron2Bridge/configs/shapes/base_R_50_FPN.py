# Root of the FPN arms at CPU scale: detectron2's Mask R-CNN R-50-FPN (common/models/mask_rcnn_fpn.py) with
# the toolkit's CPU demo sizes: a ResNet-18 at half width standing in for R-50 (detectron2's BasicBlock,
# trainable BN), a 32-channel FPN, a 256-wide box head, a 64-channel mask head, one anchor size per level
# halved for the small shapes, 128 RoIs per image, 300/50 test proposals, 20 detections, and RoIAlign on
# 2x2 samples per bin.
from detectron2.layers import ShapeSpec
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.resnets import bottom_up
from .recipe import dataloader, lr_multiplier, optimizer, train

FPN_CHANNELS = 32

model = get_config("common/models/mask_rcnn_fpn.py").model
model.backbone.bottom_up = bottom_up("resnet18", width=32, norm="BN", out_features=["res2", "res3", "res4", "res5"])
model.backbone.out_channels = FPN_CHANNELS
model.update(pixel_mean=[103.53, 116.28, 123.675], pixel_std=[57.375, 57.12, 58.395])  # BGR, as the toolkit's
model.proposal_generator.update(pre_nms_topk=(1000, 300), post_nms_topk=(500, 50))
model.proposal_generator.head.in_channels = FPN_CHANNELS
model.proposal_generator.anchor_generator.sizes = [[16], [32], [64], [128], [256]]
model.roi_heads.update(num_classes=4, batch_size_per_image=128)
model.roi_heads.box_pooler.sampling_ratio = 2
model.roi_heads.mask_pooler.sampling_ratio = 2
model.roi_heads.box_head.update(input_shape=ShapeSpec(channels=FPN_CHANNELS, height=7, width=7), fc_dims=[256, 256])
model.roi_heads.box_predictor.update(input_shape=ShapeSpec(channels=256), test_topk_per_image=20)
model.roi_heads.mask_head.update(input_shape=ShapeSpec(channels=FPN_CHANNELS, height=14, width=14),
                                 conv_dims=[64, 64, 64, 64, 64])  # 4 convs, then the deconv's width

train.output_dir = "./output/d2_bridge/shapes/R_50_FPN"
