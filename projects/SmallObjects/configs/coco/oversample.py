# Oversampling of images with small objects (Kisantal et al. 2019): seen twice per epoch. Areas are
# the annotations' scaled to the training scale: the shorter side (~480 px in COCO) is resized to
# 640-800 px, about 1.5x.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data import SmallObjectRepeatFactors

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.repeat_factors = L(SmallObjectRepeatFactors)(repeat_factor=2.0, scale=1.5)

train.output_dir = "./output/small_objects/coco/oversample"
