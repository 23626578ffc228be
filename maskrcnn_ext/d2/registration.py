"""Registration of the bridge's components into detectron2's registries, once per process."""
from __future__ import annotations

import logging

from detectron2.modeling.roi_heads.mask_head import ROI_MASK_HEAD_REGISTRY
from detectron2.modeling.roi_heads.roi_heads import ROI_HEADS_REGISTRY
from fvcore.common.registry import Registry

from .mask_heads import MaskRCNNConvUpsampleSoftmaxHead, MaskRCNNMLPHead
from .mask_scoring import MaskScoringROIHeads
from .mask_scoring_c4 import MaskScoringRes5ROIHeads
from .pooler_roi_heads import ExtPoolerRes5ROIHeads, ExtPoolerROIHeads

__all__ = ["REGISTERED", "register_all", "register_once"]

logger = logging.getLogger(__name__)

# (registry, component): each is registered under its class name.
REGISTERED: tuple[tuple[Registry, type], ...] = (
    (ROI_HEADS_REGISTRY, MaskScoringROIHeads),
    (ROI_HEADS_REGISTRY, MaskScoringRes5ROIHeads),
    (ROI_HEADS_REGISTRY, ExtPoolerROIHeads),
    (ROI_HEADS_REGISTRY, ExtPoolerRes5ROIHeads),
    (ROI_MASK_HEAD_REGISTRY, MaskRCNNMLPHead),
    (ROI_MASK_HEAD_REGISTRY, MaskRCNNConvUpsampleSoftmaxHead),
)


def _qualified_name(obj: object) -> str:
    return f"{obj.__module__}.{obj.__qualname__}"


def register_once(registry: Registry, obj: type) -> None:
    """Register ``obj`` under its name unless that name is already taken by it.

    fvcore's ``Registry.register`` refuses a name twice, which importing this package again (or
    reloading its modules, which re-creates the classes) would otherwise hit; the first
    registration is kept. A *different* component under the same name is a conflict and raises.
    """
    name = obj.__name__
    if name not in registry:
        registry.register(obj)
        return
    existing = registry.get(name)
    if _qualified_name(existing) != _qualified_name(obj):
        raise ValueError(f"detectron2's {getattr(registry, '_name', 'registry')} registry already holds "
                         f"{_qualified_name(existing)} under {name!r}; cannot register {_qualified_name(obj)}")
    logger.debug("%s is already registered as %r", _qualified_name(obj), name)


def register_all() -> None:
    """Register every component of :data:`REGISTERED`; safe to call any number of times."""
    for registry, obj in REGISTERED:
        register_once(registry, obj)
