from .box_head import FastRCNNConvFCHead
from .fast_rcnn import FastRCNNOutputLayers
from .keypoint_head import KRCNNConvDeconvUpsampleHead
from .keypoint_ops import decode_keypoints, keypoint_loss, keypoint_targets, keypoints_in_rois
from .keypoint_roi_heads import KeypointROIHeads
from .mask_head import MaskRCNNConvUpsampleHead
from .mask_losses import (
    SigmoidMaskLoss,
    SoftmaxMaskLoss,
    mask_decoder_for,
    sigmoid_mask_loss,
    sigmoid_mask_probs,
    softmax_mask_loss,
    softmax_mask_probs,
)
from .mask_scoring import MaskScoringMixin, MaskScoringRes5ROIHeads, MaskScoringROIHeads
from .maskiou_head import MaskIoUHead
from .mlp_mask_head import MaskRCNNMLPHead
from .res5_roi_heads import Res5ROIHeads
from .roi_heads import BoxTrainStep, StandardROIHeads

__all__ = ["BoxTrainStep", "FastRCNNConvFCHead", "FastRCNNOutputLayers", "KRCNNConvDeconvUpsampleHead",
           "KeypointROIHeads", "MaskIoUHead", "MaskRCNNConvUpsampleHead",
           "MaskRCNNMLPHead", "MaskScoringMixin", "MaskScoringRes5ROIHeads", "MaskScoringROIHeads",
           "Res5ROIHeads", "SigmoidMaskLoss", "SoftmaxMaskLoss", "StandardROIHeads", "mask_decoder_for",
           "sigmoid_mask_loss", "sigmoid_mask_probs", "softmax_mask_loss", "softmax_mask_probs",
           "decode_keypoints", "keypoint_loss", "keypoint_targets", "keypoints_in_rois"]
