"""The bridge's keys for detectron2's yacs configs (``get_cfg()``), for users of ``build_model(cfg)``.

LazyConfig users do not need them: they set the components' constructor arguments directly.
"""
from __future__ import annotations

from detectron2.config import CfgNode

__all__ = ["add_maskrcnn_ext_config"]


def add_maskrcnn_ext_config(cfg: CfgNode) -> CfgNode:
    """Add the bridge's keys with their defaults to ``cfg`` (in place; also returned).

    Call it before merging a config file that sets them, as for detectron2's own projects:

    - ``MODEL.ROI_MASK_HEAD.MLP_FC_DIMS`` / ``MLP_MASK_SIZE`` / ``MLP_LOSS_TYPE``: the MLP mask head
      (``ROI_MASK_HEAD.NAME = "MaskRCNNMLPHead"``);
    - ``MODEL.ROI_MASKIOU_HEAD.{CONV_DIMS, FC_DIMS, LOSS_WEIGHT}``: the MaskIoU head of
      ``ROI_HEADS.NAME = "MaskScoringROIHeads"`` or ``"MaskScoringRes5ROIHeads"`` (the paper's: four
      3x3 convs of 256, two fc of 1024, weight 1);
    - ``INPUT.SMALL_OBJECT_PASTE`` / ``INPUT.CROSS_IMAGE_PASTE``: the copy-paste operations of
      ``CopyPasteDatasetMapper(cfg, is_train)``, both off by default.
    """
    mask_head = cfg.MODEL.ROI_MASK_HEAD
    mask_head.MLP_FC_DIMS = [1024, 1024]
    mask_head.MLP_MASK_SIZE = 28
    mask_head.MLP_LOSS_TYPE = "SigmoidMaskLoss"
    cfg.MODEL.ROI_MASKIOU_HEAD = CfgNode({"CONV_DIMS": [256] * 4, "FC_DIMS": [1024, 1024], "LOSS_WEIGHT": 1.0})
    cfg.INPUT.SMALL_OBJECT_PASTE = CfgNode({
        "ENABLED": False, "AREA_THRESHOLD": 32.0 ** 2, "COPIES": 1, "SCALE_RANGE": [0.8, 1.2],
        "MAX_ROTATION": 15.0, "BLEND_SIGMA": 0.0, "PROB": 1.0,
    })
    cfg.INPUT.CROSS_IMAGE_PASTE = CfgNode({
        "ENABLED": False, "MAX_INSTANCES": 10, "SCALE_RANGE": [0.8, 1.2], "MAX_ROTATION": 0.0,
        "BLEND_SIGMA": 1.0, "MIN_VISIBLE_AREA": 16, "PROB": 0.5,
    })
    return cfg
