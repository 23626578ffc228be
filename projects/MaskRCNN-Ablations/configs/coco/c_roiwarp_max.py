# Table 2c, RoIWarp (max): RoI corners rounded, then 4 bilinear samples per bin, max.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler

from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.box_pooler = L(build_pooler)(op="ROIWarp", output_size=14, strides=[16], sampling_ratio=2, aggregate="max")
model.roi_heads.mask_pooler = L(build_pooler)(op="ROIWarp", output_size=14, strides=[16], sampling_ratio=2, aggregate="max")

train.output_dir = "./output/ablations/coco/c_roiwarp_max"
