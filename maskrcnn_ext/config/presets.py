"""Presets: groups of config values that must change together, applied by one call in a config.

    from maskrcnn_ext.config.presets import small_object_preset
    small_object_preset(model, dataloader, mask_size=56)
"""
from __future__ import annotations

import logging
from typing import Any

__all__ = ["small_object_preset"]

logger = logging.getLogger(__name__)


def _name(target: Any) -> str:
    return getattr(target, "__name__", str(target))


def small_object_preset(model: Any, dataloader: Any, *, anchor_scale: float = 0.5, proposal_scale: float = 2.0,
                        detections_per_image: int = 200, mask_size: int = 56) -> None:
    """Retune a Mask R-CNN config for many small objects, keeping dependent values consistent.

    Args:
        model: the config's ``model`` node (a ``GeneralizedRCNN`` with an RPN and ROI heads).
        dataloader: the config's ``dataloader`` node; its evaluator's ``max_dets_per_image`` is set.
        anchor_scale: multiplies every anchor size (0.5: a 32 px anchor becomes 16 px).
        proposal_scale: multiplies the RPN's pre- and post-NMS top-k, in training and test.
        detections_per_image: detections kept per image, and the evaluator's ``maxDets`` with them.
        mask_size: predicted mask side M (the paper's 28), for FPN-style heads whose mask head
            pools M/2 and doubles it with its deconv. The targets follow the logits' size, and a
            MaskIoU head, if any, reads features of the new size.

    Raises:
        ValueError: an odd ``mask_size`` (the deconv doubles the pooled size).
    """
    if mask_size % 2:
        raise ValueError(f"mask_size must be even (the mask head's deconv doubles the pooled size), got {mask_size}")
    heads_type = _name(model.roi_heads.get("_target_"))
    if "Res5" in heads_type:
        raise ValueError(f"small_object_preset supports FPN-style ROI heads, not {heads_type}: in C4 heads the "
                         "mask pooler must match the box pooler and res5 halves it; set their sizes by hand")
    rpn = model.proposal_generator
    rpn.anchor_sizes = [[max(1, round(s * anchor_scale)) for s in level] for level in rpn.anchor_sizes]
    for key in ("pre_nms_topk_train", "post_nms_topk_train", "pre_nms_topk_test", "post_nms_topk_test"):
        rpn[key] = int(round(rpn[key] * proposal_scale))
    heads = model.roi_heads
    heads.box_predictor.test_topk_per_image = detections_per_image
    max_dets = dataloader.evaluator._get_node("max_dets_per_image")
    if max_dets is None or not max_dets._is_interpolation():  # an interpolation already follows the model
        dataloader.evaluator.max_dets_per_image = detections_per_image
    heads.mask_pooler.output_size = mask_size // 2
    if "MLP" in _name(heads.mask_head.get("_target_")):  # fully connected: input and output sizes are fixed
        heads.mask_head.pooler_resolution = mask_size // 2
        heads.mask_head.mask_size = mask_size
    if heads.get("maskiou_head") is not None:
        heads.maskiou_head.pooler_resolution = mask_size // 2
    logger.info("small-object preset: anchors %s, RPN top-k x%g, %d detections per image, %dx%d masks",
                rpn.anchor_sizes, proposal_scale, detections_per_image, mask_size, mask_size)
