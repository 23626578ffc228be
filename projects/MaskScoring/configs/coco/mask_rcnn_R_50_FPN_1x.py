# Baseline of the mask-scoring study at COCO scale: Mask R-CNN R-50-FPN, 1x schedule (90k iterations,
# 16 images per batch, LR 0.02 x0.1 at 60k and 80k), the recipe of the Mask Scoring R-CNN paper's
# R-50-FPN row. Starts from detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy:
# train.init_checkpoint=/path/R-50.pkl.
from .....configs.common.data.coco import dataloader
from .....configs.common.imagenet import imagenet_pretrained
from .....configs.common.models.mask_rcnn_fpn import model
from .....configs.common.optim import SGD as optimizer
from .....configs.common.schedules import lr_multiplier_1x as lr_multiplier
from .....configs.common.train import train

imagenet_pretrained(model, train)

train.update(
    output_dir="./output/mask_scoring/coco/mask_rcnn_R_50_FPN_1x",
    max_iter=90000,
    eval_period=10000,
    checkpointer=dict(period=5000, max_to_keep=3),
)
