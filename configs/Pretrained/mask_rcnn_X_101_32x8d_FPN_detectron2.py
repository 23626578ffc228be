# Mask R-CNN X-101-32x8d-FPN as Detectron2 builds it (COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x.yaml):
#   python train_net.py --config-file configs/Pretrained/mask_rcnn_X_101_32x8d_FPN_detectron2.py --eval-only \
#       train.init_checkpoint=detectron2/COCO-InstanceSegmentation/mask_rcnn_X_101_32x8d_FPN_3x
# FAIR's ResNeXt differs from MSRA's ResNets in two ways Detectron2's config states: the stride sits
# in the 3x3 conv (as in torchvision), and BGR pixels are divided by a per-channel std.
from ..common.imagenet import imagenet_options
from .mask_rcnn_R_50_FPN_detectron2 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnext101_32x8d"
imagenet_options(model)
train.output_dir = "./output/pretrained_mask_rcnn_X_101_32x8d_FPN_detectron2"
