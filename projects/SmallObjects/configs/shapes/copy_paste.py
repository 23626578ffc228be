# Each small shape pasted twice more in its own image (scale +-20%, rotation +-15 degrees).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import SmallObjectCopyPaste

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations.append(L(SmallObjectCopyPaste)(copies=2))

train.output_dir = "./output/small_objects/shapes/copy_paste"
