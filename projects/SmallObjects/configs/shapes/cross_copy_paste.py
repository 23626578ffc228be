# Instances of another training image pasted over this one (Simple Copy-Paste), half of the images.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import CrossImageCopyPaste

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations.append(L(CrossImageCopyPaste)(dataset="shapes_small_train", max_instances=4))

train.output_dir = "./output/small_objects/shapes/cross_copy_paste"
