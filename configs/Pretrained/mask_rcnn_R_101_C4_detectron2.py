# Mask R-CNN R-101-C4 as Detectron2 builds it (COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x.yaml):
#   python train_net.py --config-file configs/Pretrained/mask_rcnn_R_101_C4_detectron2.py --eval-only \
#       train.init_checkpoint=detectron2/COCO-InstanceSegmentation/mask_rcnn_R_101_C4_3x
# The R-50-C4 config at depth 101 (the res5 box head follows the backbone's arch).
from .mask_rcnn_R_50_C4_detectron2 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.arch = "resnet101"
train.output_dir = "./output/pretrained_mask_rcnn_R_101_C4_detectron2"
