"""torchvision ``.pth`` files as initial weights: told from their keys and converted on load.

:func:`~maskrcnn_ext.checkpoint.weights.read_model_state` sends every ``.pth`` state dict here, so
``train.init_checkpoint=resnet50-11ad3fa6.pth`` (ImageNet) or ``=maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth``
(COCO) converts to the toolkit's names; the toolkit's own files pass through unchanged.
"""
from __future__ import annotations

import logging
from collections.abc import Collection, Mapping

from torch import Tensor

from .torchvision import BACKBONE_TARGETS, convert_torchvision_resnet, is_torchvision_resnet
from .torchvision_detection import convert_torchvision_mask_rcnn, is_torchvision_detection

__all__ = ["convert_if_torchvision", "resnet_target"]

logger = logging.getLogger(__name__)


def resnet_target(model_keys: Collection[str]) -> str:
    """Where a model keeps its ResNet stages (a :data:`BACKBONE_TARGETS` key), from its state-dict names."""
    keys = set(model_keys)
    for target in ("fpn", "c5", "c4"):
        stem, res5 = BACKBONE_TARGETS[target]
        if f"{stem}stem.0.weight" in keys and any(k.startswith(res5) for k in keys):
            return target
    return "backbone"


def convert_if_torchvision(state: Mapping[str, Tensor], *, source: str,
                           model_keys: Collection[str] | None = None) -> dict[str, Tensor]:
    """``state`` in the toolkit's names: converted when it is a torchvision ImageNet ResNet or
    (Mask/Faster) R-CNN state dict, returned as it is otherwise.

    Args:
        state: the file's state dict.
        source: the file, for the log.
        model_keys: the target model's state-dict names: where ImageNet stages go (FPN, C4, C5 or a
            bare backbone) and whether its backbone keeps BN counters; None assumes an FPN model with
            frozen BN.
    """
    keys = set(model_keys or ())
    norm = "BN" if any(k.startswith("backbone.") and k.endswith("num_batches_tracked") for k in keys) else "FrozenBN"
    if is_torchvision_detection(state):
        logger.info("%s: torchvision detection weights", source)
        return convert_torchvision_mask_rcnn(state, arch=None, backbone_norm=norm).state_dict
    if is_torchvision_resnet(state):
        target = resnet_target(keys) if model_keys is not None else "fpn"
        logger.info("%s: torchvision ImageNet ResNet weights, into the model's %s backbone", source, target)
        return convert_torchvision_resnet(state, target=target, backbone_norm=norm).state_dict
    return dict(state)
