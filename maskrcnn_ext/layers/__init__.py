from .mask_ops import crop_and_resize_masks, paste_masks_in_image
from .pooler_variants import ROIPool, ROIWarp
from .poolers import MultiLevelROIPooler, ROIAlign, assign_boxes_to_levels, build_pooler

__all__ = ["MultiLevelROIPooler", "ROIAlign", "ROIPool", "ROIWarp", "assign_boxes_to_levels", "build_pooler",
           "crop_and_resize_masks", "paste_masks_in_image"]
