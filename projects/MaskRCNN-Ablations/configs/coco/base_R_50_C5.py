# Root of sub-table (d): Mask R-CNN R-50-C5, all heads on res5 at stride 32, on the paper's recipe.
from .....configs.common.models.mask_rcnn_c5 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

train.output_dir = "./output/ablations/coco/R_50_C5"
