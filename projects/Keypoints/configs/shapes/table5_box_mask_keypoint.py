# Table 5, "keypoint & mask": the recipe plus the shapes demo's mask branch (4 convs of 64 channels on
# 14x14 RoIAlign features, trained on 4 foreground RoIs per image); evaluated for boxes, masks and keypoints.
from maskrcnn_ext.config import LazyCall as L
from maskrcnn_ext.layers.poolers import build_pooler
from maskrcnn_ext.modeling.roi_heads import MaskRCNNConvUpsampleHead

from .recipe import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads.update(
    mask_in_features=["p2", "p3", "p4", "p5"],
    mask_pooler=L(build_pooler)(op="maskrcnn_ext.layers.ROIAlign", output_size=14, strides=[4, 8, 16, 32],
                                sampling_ratio=2, aligned=True),
    mask_head=L(MaskRCNNConvUpsampleHead)(in_channels="${...backbone.out_channels}", num_classes="${..num_classes}",
                                          conv_dims=[64, 64, 64, 64]),
    mask_rois_per_image=4,
)
dataloader.evaluator.tasks = ["bbox", "segm", "keypoints"]
train.output_dir = "./output/keypoints/shapes/table5_box_mask_keypoint"
