from .box_head import FastRCNNConvFCHead
from .fast_rcnn import FastRCNNOutputLayers
from .mask_head import MaskRCNNConvUpsampleHead
from .mask_losses import SigmoidMaskLoss, SoftmaxMaskLoss, sigmoid_mask_loss
from .mask_scoring import MaskScoringMixin, MaskScoringRes5ROIHeads, MaskScoringROIHeads
from .maskiou_head import MaskIoUHead
from .mlp_mask_head import MaskRCNNMLPHead
from .res5_roi_heads import Res5ROIHeads
from .roi_heads import StandardROIHeads

__all__ = ["FastRCNNConvFCHead", "FastRCNNOutputLayers", "MaskIoUHead", "MaskRCNNConvUpsampleHead",
           "MaskRCNNMLPHead", "MaskScoringMixin", "MaskScoringRes5ROIHeads", "MaskScoringROIHeads",
           "Res5ROIHeads", "SigmoidMaskLoss", "SoftmaxMaskLoss", "StandardROIHeads", "sigmoid_mask_loss"]
