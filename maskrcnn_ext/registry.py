"""One registry per component family, below every package that registers into them.

``layers`` (poolers) and ``modeling`` (everything else) both register here, so neither imports the
other for it.

Lazy configs name components by their import path, so registries are not needed to *build* a model;
they exist so that components can be discovered (``maskrcnn-ext list``), selected by a short name
(``build_from_registry``), and mirrored into detectron2's registries by the bridge.
"""
from __future__ import annotations

import difflib
from typing import Any

from fvcore.common.registry import Registry

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = "Whole models: take a list of input dicts, return losses or predictions."

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = "Feature extractors: image tensor (B, 3, H, W) -> dict of feature maps."

PROPOSAL_GENERATOR_REGISTRY = Registry("PROPOSAL_GENERATOR")
PROPOSAL_GENERATOR_REGISTRY.__doc__ = "Region proposal networks."

ROI_HEADS_REGISTRY = Registry("ROI_HEADS")
ROI_HEADS_REGISTRY.__doc__ = "Per-region heads: proposals + features -> boxes, classes, masks."

BOX_HEAD_REGISTRY = Registry("BOX_HEAD")
BOX_HEAD_REGISTRY.__doc__ = "Box feature heads: pooled features (R, C, S, S) -> (R, D)."

MASK_HEAD_REGISTRY = Registry("MASK_HEAD")
MASK_HEAD_REGISTRY.__doc__ = "Mask heads: pooled features (R, C, S, S) -> mask logits (R, K, M, M)."

MASKIOU_HEAD_REGISTRY = Registry("MASKIOU_HEAD")
MASKIOU_HEAD_REGISTRY.__doc__ = "Mask-quality heads: RoI features + predicted mask -> predicted mask IoU per class (R, K)."

KEYPOINT_HEAD_REGISTRY = Registry("KEYPOINT_HEAD")
KEYPOINT_HEAD_REGISTRY.__doc__ = "Keypoint heads: pooled features (R, C, S, S) -> keypoint heatmap logits (R, K, M, M)."

MASK_LOSS_REGISTRY = Registry("MASK_LOSS")
MASK_LOSS_REGISTRY.__doc__ = "Mask losses, each naming its matching decoder: logits (R, K, M, M) -> loss."

POOLER_REGISTRY = Registry("POOLER")
POOLER_REGISTRY.__doc__ = "RoI feature poolers: feature maps + boxes -> (R, C, S, S)."

ALL_REGISTRIES: tuple[Registry, ...] = (
    META_ARCH_REGISTRY,
    BACKBONE_REGISTRY,
    PROPOSAL_GENERATOR_REGISTRY,
    ROI_HEADS_REGISTRY,
    BOX_HEAD_REGISTRY,
    MASK_HEAD_REGISTRY,
    MASKIOU_HEAD_REGISTRY,
    KEYPOINT_HEAD_REGISTRY,
    MASK_LOSS_REGISTRY,
    POOLER_REGISTRY,
)


def registered_names(registry: Registry) -> list[str]:
    """Sorted names of everything registered in ``registry``."""
    return sorted(name for name, _ in registry)


def build_from_registry(registry: Registry, name: str, **kwargs: Any) -> Any:
    """Build ``name`` from ``registry`` with keyword arguments.

    Raises:
        KeyError: naming the registry, the unknown name, the closest names and all registered ones.
    """
    names = registered_names(registry)
    if name not in names:
        close = difflib.get_close_matches(name, names, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise KeyError(
            f"No component named {name!r} in the {registry._name} registry.{hint} "
            f"Registered: {', '.join(names)}"
        )
    return registry.get(name)(**kwargs)
