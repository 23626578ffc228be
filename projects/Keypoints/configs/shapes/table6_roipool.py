# Table 6, RoIPool for the keypoint branch: RoI corners and bins rounded to the feature grid, max in
# each bin. Only the keypoint pooler changes; the box branch keeps RoIAlign, as in the paper.
from .recipe import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.keypoint_pooler.op = "maskrcnn_ext.layers.ROIPool"
del model.roi_heads.keypoint_pooler.sampling_ratio  # RoIPool takes whole cells: no samples, ...
del model.roi_heads.keypoint_pooler.aligned  # ... and no half-pixel shift
train.output_dir = "./output/keypoints/shapes/table6_roipool"
