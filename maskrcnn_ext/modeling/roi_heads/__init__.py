from .box_head import FastRCNNConvFCHead
from .fast_rcnn import FastRCNNOutputLayers
from .mask_head import MaskRCNNConvUpsampleHead, sigmoid_mask_loss
from .roi_heads import StandardROIHeads

__all__ = ["FastRCNNConvFCHead", "FastRCNNOutputLayers", "MaskRCNNConvUpsampleHead", "StandardROIHeads",
           "sigmoid_mask_loss"]
