# torchvision's COCO Mask R-CNN v1 (maskrcnn_resnet50_fpn, box AP 37.9 / mask AP 34.6 by torchvision's
# numbers) as a toolkit model: what torchvision computes at inference, with the weights converted by
# maskrcnn_ext.checkpoint.torchvision_detection.convert_torchvision_mask_rcnn (checked stage by stage
# against torchvision in tests/checkpoint/test_torchvision_mask_rcnn.py).
#
# What differs from the toolkit's own R-50-FPN defaults, and why:
# - RoIAlign unaligned (torchvision's MultiScaleRoIAlign uses aligned=False), sampling_ratio 2;
# - test images resized as torchvision's GeneralizedRCNNTransform does: shorter side 800, longer at
#   most 1333, bilinear without antialiasing (torchvision interpolates the float image; here the uint8
#   image, so values may differ by uint8 rounding, and sizes by a pixel where the two round differently).
# Already the same in the common model: RGB input normalized by torchvision's ImageNet mean/std in
# 0..255 (0.485/0.456/0.406 and 0.229/0.224/0.225 times 255), padding to 32, torchvision's own RPN
# (AnchorGenerator 32..512 x (0.5, 1, 2), 1000/1000 proposals per level/image at test, NMS 0.7), box
# score threshold 0.05, NMS 0.5, 100 detections, mask threshold 0.5.
# FrozenBN with eps 0: the v1 weights were trained with it, and torchvision's own loader sets it
# (overwrite_eps(model, 0.0)) when it loads them; with the usual 1e-5 features drift wherever a
# channel's running variance is small.
# Known remaining differences (small): torchvision also drops detections whose box side is under
# 0.01 px after clipping, maps a box to its FPN level with eps 1e-6 instead of 1e-8, and pastes
# masks with a 1-pixel padded resize instead of the toolkit's bilinear sampling at pixel centres.
#
# Classes are the 80 COCO categories in sorted id order (torchvision's 91 slots without background
# and the 10 unused ids). Set train.init_checkpoint to the converted weights.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from ..common.data.coco import dataloader
from ..common.models.mask_rcnn_fpn import model
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train

model.backbone.bottom_up.norm_eps = 0.0
model.roi_heads.box_pooler.aligned = False
model.roi_heads.mask_pooler.aligned = False
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=800, max_size=1333, antialias=False)]

train.output_dir = "./output/mask_rcnn_R_50_FPN_torchvision_v1"
