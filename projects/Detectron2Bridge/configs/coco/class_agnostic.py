# Section 4.2, class-agnostic masks, at COCO scale; the arm is class_agnostic in ../common/arms.py.
from ..common.arms import class_agnostic
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

class_agnostic(model)
train.output_dir = "./output/d2_bridge/coco/class_agnostic"
