# Root of the FPN arms: Mask R-CNN R-50-FPN (512 RoIs per image, 1000 test proposals, 4-conv FCN mask
# head) on the paper's recipe.
from .....configs.common.models.mask_rcnn_fpn import model
from .recipe import dataloader, lr_multiplier, optimizer, train

train.output_dir = "./output/ablations/coco/R_50_FPN"
