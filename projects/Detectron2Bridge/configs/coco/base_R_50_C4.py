# Root of the C4 arms at COCO scale: detectron2's Mask R-CNN R-50-C4 (../mask_rcnn_R_50_C4_1x.py) on the
# paper's recipe (recipe.py), with the paper's C4 sampling: 64 RoIs per image (detectron2: 512), and
# RoIAlign on 2x2 samples per bin (the paper's four; detectron2: adaptive), so that the RoI-layer arms
# of (c), which need a fixed grid, differ from this root in the layer only.
from ..mask_rcnn_R_50_C4_1x import dataloader, model, optimizer, train
from .recipe import paper_recipe

lr_multiplier = paper_recipe(dataloader, train)
model.roi_heads.batch_size_per_image = 64
model.roi_heads.pooler.sampling_ratio = 2
train.output_dir = "./output/d2_bridge/coco/R_50_C4"
