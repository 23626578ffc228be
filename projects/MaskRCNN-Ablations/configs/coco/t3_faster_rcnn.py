# Table 3, Faster R-CNN, at GPU scale; the arm is t3_faster_rcnn in ../arms.py.
from ..arms import t3_faster_rcnn
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

t3_faster_rcnn(model)
train.output_dir = "./output/ablations/coco/t3_faster_rcnn"
