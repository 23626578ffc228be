# Baseline of the small-object study at COCO scale: Mask R-CNN R-50-FPN, 1x schedule (90k
# iterations, 16 images per batch, 640-800 px multi-scale training). Starts from
# detectron2://ImageNetPretrained/MSRA/R-50.pkl, or a local copy: train.init_checkpoint=/path/R-50.pkl.
from .....configs.common.data.coco import dataloader
from .....configs.common.imagenet import imagenet_pretrained
from .....configs.common.models.mask_rcnn_fpn import model
from .....configs.common.optim import SGD as optimizer
from .....configs.common.schedules import lr_multiplier_1x as lr_multiplier
from .....configs.common.train import train

imagenet_pretrained(model, train)

train.update(
    output_dir="./output/small_objects/coco/baseline",
    max_iter=90000,
    eval_period=10000,
    checkpointer=dict(period=5000, max_to_keep=3),
)
