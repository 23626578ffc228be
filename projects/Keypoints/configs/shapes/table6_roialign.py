# Table 6, RoIAlign for the keypoint branch (the recipe's pooler): bilinear samples, no rounding.
from .recipe import dataloader, lr_multiplier, model, optimizer, train

train.output_dir = "./output/keypoints/shapes/table6_roialign"
