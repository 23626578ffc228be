"""RoI poolers for detectron2's ROI heads, including the pooling types its ``ROIPooler`` lacks.

:class:`ExtROIPooler` is a drop-in for detectron2's ``ROIPooler`` (same constructor arguments, same
``forward(x, box_lists)``): detectron2's class keeps doing what it already does (checking the
feature pyramid, assigning each box to a level), and this toolkit's single-level operators do the
pooling, so RoIWarp and max-aggregated RoIAlign (Table 2c of the Mask R-CNN paper) can serve as a
``box_pooler`` / ``mask_pooler`` / C4 ``pooler``.
"""
from __future__ import annotations

from typing import Any

from detectron2.modeling.poolers import ROIPooler
from torch import nn

from ..layers.pooler_variants import ROIPool, ROIWarp
from ..layers.poolers import ROIAlign

__all__ = ["POOLER_TYPES", "ExtROIPooler", "build_level_op", "ext_pooler_like", "needs_fixed_sampling"]

# pooler_type -> (single-level operator, its fixed options). detectron2's own names keep their
# meaning ("ROIAlign" samples in the paper's original coordinates, "ROIAlignV2" with the half-pixel
# correction), so swapping ROIPooler for ExtROIPooler with the same pooler_type changes nothing.
POOLER_TYPES: dict[str, tuple[type[nn.Module], dict[str, Any]]] = {
    "ROIPool": (ROIPool, {}),
    "ROIAlign": (ROIAlign, {"aligned": False}),
    "ROIAlignV2": (ROIAlign, {"aligned": True}),
    "ROIAlignMax": (ROIAlign, {"aligned": False, "aggregate": "max"}),
    "ROIAlignV2Max": (ROIAlign, {"aligned": True, "aggregate": "max"}),
    "ROIWarp": (ROIWarp, {"aggregate": "max"}),
    "ROIWarpAvg": (ROIWarp, {"aggregate": "avg"}),
}


def needs_fixed_sampling(pooler_type: str) -> bool:
    """Whether ``pooler_type`` aggregates a fixed grid of samples per bin (max aggregation, RoIWarp),
    so that detectron2's adaptive ``sampling_ratio=0`` cannot serve it."""
    op, options = POOLER_TYPES[pooler_type]
    return op is ROIWarp or options.get("aggregate") == "max"


def build_level_op(pooler_type: str, *, output_size: int, spatial_scale: float, sampling_ratio: int) -> nn.Module:
    """The single-level pooler of ``pooler_type`` for one feature map (``ROIPool`` has no sampling).

    Operators that aggregate by max (and RoIWarp) need ``sampling_ratio > 0``; they raise a
    ValueError naming the operator otherwise.
    """
    if pooler_type not in POOLER_TYPES:
        raise ValueError(f"Unknown pooler_type {pooler_type!r}; ExtROIPooler supports {sorted(POOLER_TYPES)}")
    op, options = POOLER_TYPES[pooler_type]
    if op is not ROIPool:
        options = {**options, "sampling_ratio": sampling_ratio}
    return op(output_size=output_size, spatial_scale=spatial_scale, **options)


class ExtROIPooler(ROIPooler):
    """detectron2's ``ROIPooler`` with this toolkit's pooling operators on every level.

    Args:
        output_size: side S of the pooled features (an int, or a square ``(S, S)``).
        scales: ``1 / stride`` of each feature map, finest first, a pyramid of factor 1/2.
        sampling_ratio: bilinear samples per bin side; 0 (adaptive) only for the average types.
        pooler_type: one of :data:`POOLER_TYPES` -- detectron2's ``"ROIPool"``, ``"ROIAlign"``,
            ``"ROIAlignV2"`` or the variants ``"ROIAlignMax"``, ``"ROIAlignV2Max"``, ``"ROIWarp"``
            (max over each bin's samples, as in the paper) and ``"ROIWarpAvg"``.
        canonical_box_size, canonical_level: FPN level assignment, as detectron2's.

    ``forward(x, box_lists)`` is detectron2's: ``x`` the per-level maps ``[(N, C, Hl, Wl)]``,
    ``box_lists`` one ``Boxes`` per image; it returns ``(M, C, S, S)`` for the M boxes in order.
    """

    def __init__(self, output_size: int | tuple[int, int], scales: list[float], sampling_ratio: int,
                 pooler_type: str, canonical_box_size: int = 224, canonical_level: int = 4) -> None:
        if pooler_type not in POOLER_TYPES:
            raise ValueError(f"Unknown pooler_type {pooler_type!r}; ExtROIPooler supports {sorted(POOLER_TYPES)}")
        # detectron2 validates the pyramid and sets the level bookkeeping its forward() uses; the
        # ROIPool operators it builds for that are replaced just below (they hold no parameters).
        super().__init__(output_size, scales, sampling_ratio, "ROIPool", canonical_box_size=canonical_box_size,
                         canonical_level=canonical_level)
        height, width = self.output_size
        if height != width:
            raise ValueError(f"ExtROIPooler pools square bins only, got output_size={tuple(self.output_size)}")
        self.pooler_type = pooler_type
        self.level_poolers = nn.ModuleList(
            build_level_op(pooler_type, output_size=height, spatial_scale=scale, sampling_ratio=sampling_ratio)
            for scale in scales)

    def extra_repr(self) -> str:
        return f"pooler_type={self.pooler_type!r}, output_size={tuple(self.output_size)}"


def ext_pooler_like(pooler: ROIPooler, pooler_type: str, sampling_ratio: int) -> ExtROIPooler:
    """An :class:`ExtROIPooler` of ``pooler_type`` over the same levels, output size and level
    assignment as a detectron2 ``ROIPooler`` already built (its operators must have ``spatial_scale``,
    as all of detectron2's do)."""
    return ExtROIPooler(tuple(pooler.output_size), [op.spatial_scale for op in pooler.level_poolers], sampling_ratio,
                        pooler_type, canonical_box_size=pooler.canonical_box_size,
                        canonical_level=pooler.canonical_level)
