# Root of the C4 arms at CPU scale: detectron2's Mask R-CNN R-50-C4 (common/models/mask_rcnn_c4.py) with
# the toolkit's CPU stand-in for R-50, a ResNet-18 at half width (stem 32 channels, res4 128, res5 256;
# detectron2's BasicBlock, trainable BN, nothing frozen), its res5 (two basic blocks) as the ROI heads'
# res5, anchors halved for the small shapes, 8 RoIs per image, 300/50 test proposals, 20 detections,
# a 64-channel mask deconv, and RoIAlign on 2x2 samples per bin. 600 iterations, twice the recipe's, as
# the toolkit's C4 root (its README: at 300 the C4 heads were too weak for the pooler arms to separate).
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.resnets import bottom_up, stage
from .recipe import dataloader, optimizer, schedule, train

ARCH, WIDTH = "resnet18", 32

model = get_config("common/models/mask_rcnn_c4.py").model
model.backbone = bottom_up(ARCH, width=WIDTH, norm="BN", out_features=["res4"], num_stages=3)
model.update(pixel_mean=[103.53, 116.28, 123.675], pixel_std=[57.375, 57.12, 58.395])  # BGR, as the toolkit's
model.proposal_generator.update(pre_nms_topk=(1000, 300), post_nms_topk=(500, 50))
model.proposal_generator.head.in_channels = 128  # res4 channels
model.proposal_generator.anchor_generator.sizes = [[16, 32, 64, 128, 256]]
model.roi_heads.update(num_classes=4, batch_size_per_image=8)
model.roi_heads.pooler.sampling_ratio = 2
model.roi_heads.res5 = stage(ARCH, width=WIDTH, index=3, norm="BN")
model.roi_heads.box_predictor.test_topk_per_image = 20
model.roi_heads.mask_head.conv_dims = [64]  # the deconv's width (C4 has no mask convs)

train.max_iter = 600
lr_multiplier = schedule(600, 520)
train.output_dir = "./output/d2_bridge/shapes/R_50_C4"
