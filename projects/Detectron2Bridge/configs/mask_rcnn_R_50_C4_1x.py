# The C4 baseline: detectron2's own Mask R-CNN R-50-C4 1x (its COCO-InstanceSegmentation/mask_rcnn_R_50_C4_1x.py),
# the backbone of the Mask R-CNN paper's Table 2b and 2c ablations. Every *_C4_* config here imports it
# and swaps in one component of this toolkit.
from detectron2.model_zoo import get_config

import maskrcnn_ext.d2  # noqa: F401  (registers the bridge's components)

model = get_config("common/models/mask_rcnn_c4.py").model
dataloader = get_config("common/data/coco.py").dataloader
optimizer = get_config("common/optim.py").SGD
lr_multiplier = get_config("common/coco_schedule.py").lr_multiplier_1x
train = get_config("common/train.py").train

model.backbone.freeze_at = 2
train.init_checkpoint = "detectron2://ImageNetPretrained/MSRA/R-50.pkl"
train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_C4_1x"
