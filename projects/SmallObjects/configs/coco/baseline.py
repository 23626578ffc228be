# Baseline of the small-object study at COCO scale: Mask R-CNN R-50-FPN, 1x schedule (90k
# iterations, 16 images per batch, 640-800 px multi-scale training). Set train.init_checkpoint to
# ImageNet-pretrained weights (nothing is downloaded).
from .....configs.common.data.coco import dataloader
from .....configs.common.models.mask_rcnn_fpn import model
from .....configs.common.optim import SGD as optimizer
from .....configs.common.schedules import lr_multiplier_1x as lr_multiplier
from .....configs.common.train import train

train.update(
    output_dir="./output/small_objects/coco/baseline",
    max_iter=90000,
    eval_period=10000,
    checkpointer=dict(period=5000, max_to_keep=3),
)
