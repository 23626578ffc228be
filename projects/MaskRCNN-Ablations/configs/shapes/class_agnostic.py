# Section 4.2, class-agnostic masks, at CPU scale; the arm is class_agnostic in ../arms.py.
from ..arms import class_agnostic
from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

class_agnostic(model)
train.output_dir = "./output/ablations/shapes/class_agnostic"
