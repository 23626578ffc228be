# Mask R-CNN R-50-FPN as Detectron2 builds it (COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_{1x,3x}.yaml),
# for evaluating or fine-tuning Detectron2 model-zoo weights in this toolkit:
#   python train_net.py --config-file configs/Pretrained/mask_rcnn_R_50_FPN_detectron2.py --eval-only \
#       train.init_checkpoint=model_final_f10217.pkl
# The .pkl is converted on load; tests/checkpoint/test_detectron2_zoo.py checks on Detectron2-made
# fixtures (a narrow variant of this config) that features, detections and masks equal Detectron2's.
# COCO's 80 classes in Detectron2's contiguous order; test resize: shorter side 800, longer <= 1333.
# For fine-tuning from MSRA's caffe2 ImageNet backbone, train.init_checkpoint=R-50.pkl.
from ..common.data.coco import dataloader
from ..common.models.mask_rcnn_fpn import model
from ..common.optim import SGD as optimizer
from ..common.schedules import lr_multiplier_1x as lr_multiplier
from ..common.train import train
from .common.detectron2 import detectron2_compatible

detectron2_compatible(model, anchor_strides=[4, 8, 16, 32, 64])
# Detectron2 pads FPN batches to a multiple of 32 too; its detections per image, score and NMS
# thresholds and proposal top-k are the common config's already.
model.channels_last_inference = False  # NCHW as Detectron2; channels-last only reorders float sums
train.update(output_dir="./output/pretrained_mask_rcnn_R_50_FPN_detectron2", max_iter=90000, eval_period=10000)
