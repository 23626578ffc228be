# Table 2d, RoIPool on R-50-C5 (stride 32), where quantization costs most.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler

from .base_R_50_C5 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.box_pooler = L(build_pooler)(op="ROIPool", output_size=7, strides=[32])
model.roi_heads.mask_pooler = L(build_pooler)(op="ROIPool", output_size=14, strides=[32])
