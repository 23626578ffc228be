# Table 5, "mask-only": Mask R-CNN on the same data (its keypoints unused), no keypoint branch.
from maskrcnn_ext.modeling.roi_heads import StandardROIHeads

from .table5_box_mask_keypoint import dataloader, lr_multiplier, model, optimizer, train

model.roi_heads._target_ = StandardROIHeads
for key in ("keypoint_in_features", "keypoint_pooler", "keypoint_head", "keypoint_loss_weight",
            "normalize_keypoint_loss_by_visible"):
    del model.roi_heads[key]
dataloader.evaluator.tasks = ["bbox", "segm"]
train.output_dir = "./output/keypoints/shapes/table5_box_mask"
