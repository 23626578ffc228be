# Copy-paste and oversampling together (Kisantal et al.'s best setting combines the two).
from .copy_paste import dataloader, lr_multiplier, model, optimizer, train
from .oversample import dataloader as _oversampled

dataloader.train.repeat_factors = _oversampled.train.repeat_factors

train.output_dir = "./output/small_objects/shapes/combined"
