# Table 2b, softmax masks, at GPU scale; the arm is b_softmax in ../arms.py.
from ..arms import b_softmax
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

b_softmax(model)
train.output_dir = "./output/ablations/coco/b_softmax"
