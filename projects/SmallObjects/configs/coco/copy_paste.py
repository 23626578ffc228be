# In-image copy-paste of small objects (Kisantal et al. 2019): after the resize, so "small" (< 32²
# pixels) is measured at the training scale; each small object pasted once more.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import SmallObjectCopyPaste

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations.append(L(SmallObjectCopyPaste)(copies=1))

train.output_dir = "./output/small_objects/coco/copy_paste"
