# Oversampling of images with small objects (Kisantal et al. 2019): seen twice per epoch. Areas are
# the annotations' at full resolution scaled to the ~800 px training scale (COCO images are ~640 px
# on the long side, so about 1.25x).
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data import SmallObjectRepeatFactors

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.repeat_factors = L(SmallObjectRepeatFactors)(repeat_factor=2.0, scale=1.25)

train.output_dir = "./output/small_objects/coco/oversample"
