# Table 2b, softmax masks, at COCO scale; the arm is b_softmax in ../common/arms.py.
from ..common.arms import b_softmax
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

b_softmax(model)
train.output_dir = "./output/d2_bridge/coco/b_softmax"
