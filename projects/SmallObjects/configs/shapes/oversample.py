# Images holding a small shape seen twice as often.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.data import SmallObjectRepeatFactors

from .baseline import dataloader, lr_multiplier, model, optimizer, train

dataloader.train.repeat_factors = L(SmallObjectRepeatFactors)(repeat_factor=2.0)

train.output_dir = "./output/small_objects/shapes/oversample"
