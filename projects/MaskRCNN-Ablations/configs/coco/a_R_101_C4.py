# Table 2a, R-101-C4, at GPU scale; the arm is a_R_101_C4 in ../arms.py.
# Starts from detectron2://ImageNetPretrained/MSRA/R-101.pkl, or a local copy:
# train.init_checkpoint=/path/R-101.pkl.
from .....configs.common.imagenet import imagenet_pretrained
from ..arms import a_R_101_C4
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

a_R_101_C4(model)
imagenet_pretrained(model, train)  # the deeper backbone's own ImageNet file
train.output_dir = "./output/ablations/coco/a_R_101_C4"
