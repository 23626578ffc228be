# Large-scale jitter (Ghiasi et al. 2021): resize by 0.1-2.0 of 1024x1024, crop or pad to 1024x1024.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations = [
    L(v2.ScaleJitter)(target_size=(1024, 1024), scale_range=(0.1, 2.0)),
    L(v2.RandomCrop)(size=(1024, 1024), pad_if_needed=True),
    L(v2.RandomHorizontalFlip)(),
]

train.output_dir = "./output/small_objects/coco/scale_jitter"
