# Root of sub-table (d) at COCO scale: Mask R-CNN R-50-C5 (../common/mask_rcnn_c5.py, every part
# detectron2's, all reading res5 at stride 32) on detectron2's data, optimizer and run settings with the
# paper's recipe (recipe.py), from MSRA's ImageNet R-50 with res2 and the stem frozen as detectron2's
# R-50 models; RoIAlign on 2x2 samples per bin (the paper's four).
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

from ..common.mask_rcnn_c5 import model
from .recipe import paper_recipe

dataloader = get_config("common/data/coco.py").dataloader
optimizer = get_config("common/optim.py").SGD
train = get_config("common/train.py").train
lr_multiplier = paper_recipe(dataloader, train)

model.backbone.freeze_at = 2
model.roi_heads.box_pooler.sampling_ratio = 2
model.roi_heads.mask_pooler.sampling_ratio = 2
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
train.output_dir = "./output/d2_bridge/coco/R_50_C5"
