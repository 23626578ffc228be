# Table 5, "Faster R-CNN": boxes only, on the same data.
from .table5_box_mask import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.update(mask_in_features=None, mask_pooler=None, mask_head=None, mask_rois_per_image=None)
dataloader.evaluator.tasks = ["bbox"]
train.output_dir = "./output/keypoints/shapes/table5_box_only"
