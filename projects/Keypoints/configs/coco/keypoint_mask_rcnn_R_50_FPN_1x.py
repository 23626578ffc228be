# Keypoint & mask R-CNN R-50-FPN (the paper's Table 4/5 "keypoint & mask" row): the keypoint-only
# recipe plus the FCN mask branch of Mask R-CNN, trained on the same person images and evaluated for
# boxes, masks and keypoints.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.roi_heads import MaskRCNNConvUpsampleHead

from .keypoint_rcnn_R_50_FPN_1x import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.update(
    mask_in_features=["p2", "p3", "p4", "p5"],
    mask_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[4, 8, 16, 32],
                                sampling_ratio=2, aligned=True),
    mask_head=L(MaskRCNNConvUpsampleHead)(in_channels="${...backbone.out_channels}", num_classes="${..num_classes}",
                                          conv_dims=[256, 256, 256, 256], norm=""),
)
dataloader.evaluator.tasks = ["bbox", "segm", "keypoints"]
train.output_dir = "./output/keypoints/coco/keypoint_mask_rcnn_R_50_FPN_1x"
