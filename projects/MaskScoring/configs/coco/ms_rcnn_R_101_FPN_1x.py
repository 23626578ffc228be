# Mask Scoring R-CNN, R-101-FPN 1x: starts from detectron2://ImageNetPretrained/MSRA/R-101.pkl, or a local copy:
# train.init_checkpoint=/path/R-101.pkl.
from .....configs.common.imagenet import imagenet_pretrained
from .ms_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnet101"
imagenet_pretrained(model, train)  # R-101's own ImageNet file

train.output_dir = "./output/mask_scoring/coco/ms_rcnn_R_101_FPN_1x"
