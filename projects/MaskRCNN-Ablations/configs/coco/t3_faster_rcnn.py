# Table 3, Faster R-CNN with RoIAlign: the FPN model with the mask branch off, for box AP.
from .base_R_50_FPN import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None)

train.output_dir = "./output/ablations/coco/t3_faster_rcnn"
