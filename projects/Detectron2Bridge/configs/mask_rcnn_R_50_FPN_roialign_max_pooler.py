# The Mask R-CNN paper's Table 2c, RoIAlign with max: both heads sample as the baseline's RoIAlign
# (aligned, 2x2 samples per bin) but take each bin's maximum instead of its average.
from maskrcnn_ext.d2 import ExtROIPooler

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

for pooler in (model.roi_heads.box_pooler, model.roi_heads.mask_pooler):
    pooler.update(_target_=ExtROIPooler, pooler_type="ROIAlignV2Max", sampling_ratio=2)

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_roialign_max_pooler"
