# The baseline: detectron2's own Mask R-CNN R-50-FPN 1x (its COCO-InstanceSegmentation/mask_rcnn_R_50_FPN_1x.py),
# assembled from the config files detectron2 installs with its model zoo. Every *_FPN_* config here
# imports it and swaps in one component of this toolkit, so the diff is the ablation.
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

model = get_config("common/models/mask_rcnn_fpn.py").model
dataloader = get_config("common/data/coco.py").dataloader
optimizer = get_config("common/optim.py").SGD
lr_multiplier = get_config("common/coco_schedule.py").lr_multiplier_1x
train = get_config("common/train.py").train

model.backbone.bottom_up.freeze_at = 2
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_1x"
