# Table 2a, R-101-FPN, at GPU scale; the arm is a_R_101_FPN in ../arms.py.
# Starts from detectron2://ImageNetPretrained/MSRA/R-101.pkl, or a local copy:
# train.init_checkpoint=/path/R-101.pkl.
from .....configs.common.imagenet import imagenet_pretrained
from ..arms import a_R_101_FPN
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

a_R_101_FPN(model)
imagenet_pretrained(model, train)  # the deeper backbone's own ImageNet file
train.output_dir = "./output/ablations/coco/a_R_101_FPN"
