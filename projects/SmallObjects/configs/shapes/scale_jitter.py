# Large-scale jitter instead of the fixed scale: resize by 0.5-2x of a 208 px square, then crop or pad
# to 208x208.
from torchvision.transforms import v2

from maskrcnn_ext.config import LazyCall as L

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations = [
    L(v2.ScaleJitter)(target_size=(208, 208), scale_range=(0.5, 2.0)),
    L(v2.RandomCrop)(size=(208, 208), pad_if_needed=True),
    L(v2.RandomHorizontalFlip)(),
]

train.output_dir = "./output/small_objects/shapes/scale_jitter"
