# The shapes_ablation data (generated on first use) at CPU scale: 1000 training and 200 validation
# images of 128-160 px holding 1-3 medium or large shapes of 4 classes; trained at short side 128-160 px,
# tested at 144 px. The data of the CPU-scale Mask R-CNN ablations and of the mask-scoring study.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .shapes import dataloader

dataloader.train.dataset = "shapes_ablation_train"
dataloader.train.mapper.augmentations = [
    L(v2.RandomShortestSize)(min_size=[128, 144, 160], max_size=256),
    L(v2.RandomHorizontalFlip)(),
]
dataloader.test.dataset = "shapes_ablation_val"
dataloader.test.mapper.augmentations = [L(v2.Resize)(size=144, max_size=256)]
# On 2 cores a loader process only competes with training.
dataloader.train.num_workers = 0
dataloader.test.num_workers = 0
