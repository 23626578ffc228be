# Root of the FPN arms at COCO scale: detectron2's Mask R-CNN R-50-FPN (../mask_rcnn_R_50_FPN_1x.py: 512
# RoIs per image, the 4-conv FCN mask head) on the paper's recipe (recipe.py).
from ..mask_rcnn_R_50_FPN_1x import dataloader, model, optimizer, train
from .recipe import paper_recipe

lr_multiplier = paper_recipe(dataloader, train)
train.output_dir = "./output/d2_bridge/coco/R_50_FPN"
