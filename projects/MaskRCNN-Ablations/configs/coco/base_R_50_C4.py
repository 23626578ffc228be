# Root of the C4 arms: Mask R-CNN R-50-C4 (Res5 ROI head, 64 RoIs per image, 300 test proposals) with
# RoIAlign (avg of 4 samples per bin), per-class sigmoid masks, on the paper's recipe.
# Starts from detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy:
# train.init_checkpoint=/path/R-50.pkl.
from .....configs.common.imagenet import imagenet_pretrained
from .....configs.common.models.mask_rcnn_c4 import model
from .recipe import dataloader, lr_multiplier, optimizer, train

imagenet_pretrained(model, train)
train.output_dir = "./output/ablations/coco/R_50_C4"
