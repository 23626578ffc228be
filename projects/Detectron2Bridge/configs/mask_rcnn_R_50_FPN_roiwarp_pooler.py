# The Mask R-CNN paper's Table 2c, RoIWarp: both heads pool with RoIs rounded to the feature grid, then
# bilinear samples (2x2 per bin) max-aggregated, instead of RoIAlign.
from maskrcnn_ext.d2 import ExtROIPooler

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

for pooler in (model.roi_heads.box_pooler, model.roi_heads.mask_pooler):
    pooler.update(_target_=ExtROIPooler, pooler_type="ROIWarp", sampling_ratio=2)

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_roiwarp_pooler"
