# Table 3, Faster R-CNN (no mask branch), at CPU scale; the arm is t3_faster_rcnn in ../common/arms.py.
from ..common.arms import t3_faster_rcnn
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

t3_faster_rcnn(model)
train.output_dir = "./output/d2_bridge/shapes/t3_faster_rcnn"
