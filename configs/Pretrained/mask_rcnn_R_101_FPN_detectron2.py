# Mask R-CNN R-101-FPN as Detectron2 builds it (COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x.yaml):
#   python train_net.py --config-file configs/Pretrained/mask_rcnn_R_101_FPN_detectron2.py --eval-only \
#       train.init_checkpoint=detectron2/COCO-InstanceSegmentation/mask_rcnn_R_101_FPN_3x
# Everything of the R-50-FPN config but the depth; MSRA's R-101 is a caffe2 ResNet like its R-50
# (stride in the 1x1 conv, BGR input, std 1), so the Detectron2 settings carry over unchanged.
from .mask_rcnn_R_50_FPN_detectron2 import dataloader, lr_multiplier, model, optimizer, train

model.backbone.bottom_up.arch = "resnet101"
train.output_dir = "./output/pretrained_mask_rcnn_R_101_FPN_detectron2"
