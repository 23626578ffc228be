# Table 2c, RoIPool: RoI corners and bin edges rounded to the feature grid, max over each bin.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler

from .base_R_50_C4 import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.box_pooler = L(build_pooler)(op="ROIPool", output_size=14, strides=[16])
model.roi_heads.mask_pooler = L(build_pooler)(op="ROIPool", output_size=14, strides=[16])
