# Table 2c, RoIAlign (avg) in the paper's original coordinates (no half-pixel shift).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler

from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.box_pooler = L(build_pooler)(op="ROIAlign", output_size=14, strides=[16], sampling_ratio=2, aligned=False)
model.roi_heads.mask_pooler = L(build_pooler)(op="ROIAlign", output_size=14, strides=[16], sampling_ratio=2, aligned=False)

train.output_dir = "./output/ablations/coco/c_roialign_unaligned"
