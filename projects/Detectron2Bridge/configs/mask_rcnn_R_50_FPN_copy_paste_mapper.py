# Small-object copy-paste (Kisantal et al. 2019) in detectron2's data pipeline: after the resize and flip,
# every instance smaller than 32x32 pixels is pasted once more (scaled 0.8-1.2x, rotated up to 15
# degrees) where no instance and no crowd region lies. Masks become bitmasks.
from detectron2.config import LazyCall as L

from maskrcnn_ext.d2 import CopyPasteDatasetMapper, SmallObjectPaste

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

dataloader.train.mapper.update(
    _target_=CopyPasteDatasetMapper,
    instance_mask_format="bitmask",
    pastes=[L(SmallObjectPaste)(area_threshold=32 ** 2, copies=1)],
)

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_copy_paste_mapper"
