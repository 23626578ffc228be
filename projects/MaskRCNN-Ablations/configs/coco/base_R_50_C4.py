# Root of the C4 arms: Mask R-CNN R-50-C4 (Res5 ROI head, 64 RoIs per image, 300 test proposals) with
# RoIAlign (avg of 4 samples per bin), per-class sigmoid masks, on the paper's recipe.
from .....configs.common.models.mask_rcnn_c4 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

train.output_dir = "./output/ablations/coco/R_50_C4"
