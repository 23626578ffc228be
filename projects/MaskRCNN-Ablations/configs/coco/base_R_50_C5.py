# Root of sub-table (d): Mask R-CNN R-50-C5, all heads on res5 at stride 32, on the paper's recipe.
# Starts from detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy:
# train.init_checkpoint=/path/R-50.pkl.
from .....configs.common.imagenet import imagenet_pretrained
from .....configs.common.models.mask_rcnn_c5 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

imagenet_pretrained(model, train)
train.output_dir = "./output/ablations/coco/R_50_C5"
