# Simple Copy-Paste (Ghiasi et al. 2021): instances of another training image pasted over half of
# the images, blended with a 1-pixel soft edge.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data.augmentations import CrossImageCopyPaste

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.mapper.augmentations.append(L(CrossImageCopyPaste)(dataset="coco_2017_train", max_instances=20))

train.output_dir = "./output/small_objects/coco/cross_copy_paste"
