# The Mask R-CNN paper's Table 2c on its R-50-C4 backbone, RoIWarp: the shared res4 pooler rounds RoIs to
# the feature grid, then max-aggregates bilinear samples (2x2 per bin), instead of RoIAlign.
from maskrcnn_ext.d2 import ExtROIPooler

from .mask_rcnn_R_50_C4_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.roi_heads.pooler.update(_target_=ExtROIPooler, pooler_type="ROIWarp", sampling_ratio=2)

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_C4_roiwarp_pooler"
