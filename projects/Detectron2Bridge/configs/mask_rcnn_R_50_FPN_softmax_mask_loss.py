# The Mask R-CNN paper's Table 2b: the same FCN mask head trained with a per-pixel softmax over the
# classes and background (multinomial masks, classes compete) instead of independent sigmoids.
from maskrcnn_ext.d2 import MaskRCNNConvUpsampleSoftmaxHead

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.roi_heads.mask_head._target_ = MaskRCNNConvUpsampleSoftmaxHead

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_softmax_mask_loss"
