# Keypoint R-CNN, ResNet-50-FPN, COCO person keypoints (He et al. 2017, Section 5): the Mask R-CNN
# FPN model with a keypoint branch instead of the mask branch. As in the paper and Detectron's config:
# RoIAlign 14x14 input, 8 convs 3x3 of 512 channels, a deconv to 28x28 and a 2x bilinear upsampling to
# 56x56, one heatmap per keypoint (17), softmax cross entropy over the 56² positions. Give the mask
# branch back (mask_in_features / mask_pooler / mask_head of mask_rcnn_fpn.py) for keypoint & mask.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.roi_heads import KeypointROIHeads, KRCNNConvDeconvUpsampleHead

from .mask_rcnn_fpn import model

model.roi_heads._target_ = KeypointROIHeads
model.roi_heads.update(
    num_classes=1,  # person
    mask_in_features=None,
    mask_pooler=None,
    mask_head=None,
    keypoint_in_features=["p2", "p3", "p4", "p5"],
    keypoint_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[4, 8, 16, 32],
                                    sampling_ratio=0, aligned=True),
    keypoint_head=L(KRCNNConvDeconvUpsampleHead)(in_channels="${...backbone.out_channels}", num_keypoints=17,
                                                 conv_dims=[512] * 8),
    # Detectron2's default: the mean cross entropy over the batch's visible keypoints.
    normalize_keypoint_loss_by_visible=True,
    keypoint_loss_weight=1.0,
)
