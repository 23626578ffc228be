# The Mask R-CNN paper's Table 2e: an MLP mask head (fc 1024-1024, then fc K x 28 x 28) on the same
# 14x14 pooled features instead of the FCN head.
from detectron2.config import LazyCall as L
from detectron2.layers import ShapeSpec

from maskrcnn_ext.d2 import MaskRCNNMLPHead

from .mask_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train  # noqa: F401

model.roi_heads.mask_head = L(MaskRCNNMLPHead)(
    input_shape=ShapeSpec(channels=256, height=14, width=14),
    num_classes="${..num_classes}",
    fc_dims=[1024, 1024],
    mask_size=28,
)

train.output_dir = "./output/d2_bridge/mask_rcnn_R_50_FPN_mlp_mask_head"
