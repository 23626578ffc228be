# Baseline of the small-object study at CPU scale: the CPU demo's model (ResNet-18 at half width,
# 32-channel FPN, anchors from 16 px; from scratch) on shapes_small, where 80% of the shapes are
# COCO-small (10-31 px on a side). Images are used at their own size (192-224 px), so area thresholds
# in pixels mean the same at training and test time. 500 iterations of 4 images, one 10x LR drop.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .....configs.Shapes.mask_rcnn_R_18_FPN_demo import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.dataset = "shapes_small_train"
dataloader.train.mapper.augmentations = [L(v2.RandomHorizontalFlip)()]
dataloader.test.dataset = "shapes_small_val"
dataloader.test.mapper.augmentations = []

train.update(
    output_dir="./output/small_objects/shapes/baseline",
    max_iter=500,
    checkpointer=dict(period=250, max_to_keep=1),
    vis_num_images=0,
)
lr_multiplier.steps = [440]
