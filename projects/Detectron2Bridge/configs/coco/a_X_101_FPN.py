# Table 2a, X-101-FPN, at COCO scale: ResNeXt-101 32x8d (32 groups of 8-64 channels in the 3x3 convs,
# stride there, not in the 1x1) from FAIR's ImageNet file, as detectron2's model zoo trains it
# (mask_rcnn_X_101_32x8d_FPN_3x: the same input mean, that file's pixel std).
from ..common.resnets import stage
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.backbone.bottom_up.stages = [stage("resnext101_32x8d", width=64, index=i, norm="FrozenBN") for i in range(4)]
model.pixel_std = [57.375, 57.120, 58.395]
train.init_checkpoint = "detectron2://ImageNetPretrained/FAIR/X-101-32x8d.pkl"
train.output_dir = "./output/d2_bridge/coco/a_X_101_FPN"
