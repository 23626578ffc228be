# Table 5, "keypoint-only": box + keypoint branches, the recipe as it is.
from .recipe import dataloader, lr_multiplier, model, optimizer, train

train.output_dir = "./output/keypoints/shapes/table5_box_keypoint"
