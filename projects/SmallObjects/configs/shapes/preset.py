# The combined augmentations plus the small-object preset: anchors halved (from 8 px), twice the
# proposals, 200 detections per image (and the evaluator's maxDets), 56x56 masks.
from maskrcnn_ext.config.presets import small_object_preset

from .combined import dataloader, lr_multiplier, model, optimizer, train

small_object_preset(model, dataloader, mask_size=56)

train.output_dir = "./output/small_objects/shapes/preset"
