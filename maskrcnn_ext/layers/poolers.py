"""RoI feature poolers: single-level operators and the multi-level (FPN) pooler around them.

Every operator maps feature maps ``(B, C, H, W)`` and RoIs ``(R, 5)`` given as
``(batch_index, x0, y0, x1, y1)`` in input-image pixels to pooled features ``(R, C, S, S)``.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import roi_align

from ..config import locate
from ..registry import POOLER_REGISTRY, registered_names
from .pooler_variants import aggregate_samples, bin_samples, check_aggregate
from .roi_align_separable import roi_align_channels_last, roi_align_separable

_ROI_ALIGN_IMPLS = ("auto", "separable", "torchvision")

__all__ = ["ROIAlign", "MultiLevelROIPooler", "assign_boxes_to_levels", "boxes_to_rois"]


def _is_channels_last(x: Tensor) -> bool:
    """Channels-last strides that are not also NCHW ones (a map with C = 1 or H = W = 1 is both)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


@POOLER_REGISTRY.register()
class ROIAlign(nn.Module):
    """RoIAlign (He et al. 2017): bilinear samples on a regular grid in each bin, averaged (or max).

    Args:
        output_size: side S of the pooled output.
        spatial_scale: feature-map size / input-image size (1 / stride).
        sampling_ratio: samples per bin side; 0 means adaptive (ceil(roi_size / S)).
        aligned: shift RoI coordinates by -0.5 px so that pixel centres sit at half-integers
            (the corrected convention); False reproduces the paper's original coordinates.
        impl: ``"torchvision"`` for ``torchvision.ops.roi_align``, ``"separable"`` for the separable
            forms (same values and gradients, faster on the CPU): :func:`roi_align_separable` when
            gradients are needed (torchvision's forward, a backward about twice as fast) and
            :func:`roi_align_channels_last` without them on channels-last maps; ``"auto"`` for the
            separable forms on CPU float tensors (bfloat16 and float16 ones at inference, which
            torchvision's CPU kernel lacks) and torchvision's kernels elsewhere. Used for
            ``aggregate="avg"``.
        aggregate: ``"avg"`` (the paper's RoIAlign) or ``"max"`` over each bin's samples (its
            Table 2c variant; needs ``sampling_ratio > 0``).
    """

    def __init__(self, *, output_size: int, spatial_scale: float, sampling_ratio: int = 0,
                 aligned: bool = True, impl: str = "auto", aggregate: str = "avg") -> None:
        super().__init__()
        if impl not in _ROI_ALIGN_IMPLS:
            raise ValueError(f"ROIAlign: impl must be one of {_ROI_ALIGN_IMPLS}, got {impl!r}")
        check_aggregate("ROIAlign", aggregate, sampling_ratio if aggregate == "max" else None)
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aligned = aligned
        self.impl = impl
        self.aggregate = aggregate

    def _separable_allowed(self, features: Tensor) -> bool:
        if self.impl == "auto":
            if features.device.type != "cpu":
                return False
            # Reduced precision only where no gradient is needed: the training forward is
            # torchvision's kernel, which autocast runs in float32.
            reduced = features.dtype in (torch.bfloat16, torch.float16) and not (
                features.requires_grad and torch.is_grad_enabled())
            return features.dtype in (torch.float32, torch.float64) or reduced
        return self.impl == "separable"

    def _op(self, features: Tensor) -> Callable[..., Tensor]:
        if not self._separable_allowed(features):
            return roi_align
        if features.requires_grad and torch.is_grad_enabled():
            return roi_align_separable
        # Without autograd the separable forward pays off on channels-last maps (channels-last
        # inference); on NCHW maps torchvision's kernel reads the planes directly.
        return roi_align_channels_last if _is_channels_last(features) else roi_align

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        if self.aggregate == "max":
            samples = bin_samples(features, rois, output_size=self.output_size, spatial_scale=self.spatial_scale,
                                  sampling_ratio=self.sampling_ratio, aligned=self.aligned)
            return aggregate_samples(samples, "max")
        # RoI coordinates never drop below float32: in bfloat16 one near 800 px moves in steps of 4 px.
        rois = rois.to(features.dtype if features.dtype == torch.float64 else torch.float32)
        return self._op(features)(features, rois, self.output_size, self.spatial_scale,
                                  self.sampling_ratio, self.aligned)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aligned={self.aligned}, impl={self.impl!r}, "
                f"aggregate={self.aggregate!r}")


def boxes_to_rois(boxes: Sequence[Tensor]) -> Tensor:
    """Concatenate per-image boxes ``[(Ri, 4)]`` into RoIs ``(sum Ri, 5)`` with a batch-index column."""
    if len(boxes) == 0:
        return torch.zeros((0, 5))
    index = torch.cat([torch.full((len(b), 1), i, dtype=b.dtype, device=b.device)
                       for i, b in enumerate(boxes)])
    return torch.cat([index, torch.cat(list(boxes))], dim=1)


def assign_boxes_to_levels(boxes: Tensor, *, min_level: int, max_level: int,
                           canonical_box_size: float = 224.0, canonical_level: int = 4) -> Tensor:
    """FPN level of each box (Lin et al. 2017, eq. 1), as an index from ``min_level``.

    Args:
        boxes: ``(R, 4)`` XYXY boxes in input-image pixels.

    Returns:
        ``(R,)`` int64 in ``[0, max_level - min_level]``.
    """
    sizes = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=0).sqrt()
    # The epsilon keeps a box of exactly the canonical size on the canonical level despite rounding.
    levels = torch.floor(canonical_level + torch.log2(sizes / canonical_box_size + 1e-8))
    return (levels.clamp(min_level, max_level) - min_level).to(torch.int64)


@POOLER_REGISTRY.register()
class MultiLevelROIPooler(nn.Module):
    """Pools each RoI from one feature level: the only level for C4/C5, the scale-matched one for FPN.

    Args:
        level_ops: one single-level pooler per feature map, finest first (each built with that
            level's ``spatial_scale``); see :func:`build_level_ops`.
        canonical_box_size: box side mapped to ``canonical_level``.
        canonical_level: FPN level of a ``canonical_box_size`` box (4 in the FPN paper).
    """

    def __init__(self, *, level_ops: Sequence[nn.Module], canonical_box_size: float = 224.0,
                 canonical_level: int = 4) -> None:
        super().__init__()
        self.level_ops = nn.ModuleList(level_ops)
        scales = [op.spatial_scale for op in self.level_ops]
        self.min_level = int(round(-math.log2(scales[0])))
        self.max_level = int(round(-math.log2(scales[-1])))
        if len(scales) != self.max_level - self.min_level + 1:
            raise ValueError(f"Feature strides {[1 / s for s in scales]} are not consecutive powers of 2")
        self.canonical_box_size = canonical_box_size
        self.canonical_level = canonical_level

    @property
    def output_size(self) -> int:
        return self.level_ops[0].output_size

    def forward(self, features: Sequence[Tensor], boxes: Sequence[Tensor]) -> Tensor:
        """
        Args:
            features: per-level maps ``(B, C, Hl, Wl)``, finest first, one per ``level_ops`` entry.
            boxes: per-image boxes ``[(Ri, 4)]`` XYXY in input-image pixels.

        Returns:
            ``(sum Ri, C, S, S)`` pooled features in the order of the concatenated boxes, in the
            memory format of ``features[0]``.
        """
        if len(features) != len(self.level_ops):
            raise ValueError(f"Pooler has {len(self.level_ops)} levels but got {len(features)} maps")
        rois = boxes_to_rois(boxes).to(features[0].device)
        if len(self.level_ops) == 1:
            return self.level_ops[0](features[0], rois)
        levels = assign_boxes_to_levels(rois[:, 1:], min_level=self.min_level, max_level=self.max_level,
                                        canonical_box_size=self.canonical_box_size,
                                        canonical_level=self.canonical_level)
        size = self.output_size
        # Keep a channels-last map's layout: the heads' convolutions run faster on it (on the CPU).
        layout = torch.channels_last if _is_channels_last(features[0]) else torch.contiguous_format
        out = torch.empty((len(rois), features[0].shape[1], size, size), dtype=features[0].dtype,
                          device=features[0].device, memory_format=layout).zero_()
        for level, (op, feature) in enumerate(zip(self.level_ops, features)):
            index = torch.nonzero(levels == level).squeeze(1)
            if index.numel():
                out.index_copy_(0, index, op(feature, rois[index]).to(out.dtype))
        return out


def build_level_ops(*, op: str | Callable[..., nn.Module] = "maskrcnn_ext.layers.ROIAlign", output_size: int,
                    strides: Sequence[int], **op_kwargs) -> list[nn.Module]:
    """One single-level pooler per feature stride (e.g. ``strides=(4, 8, 16, 32)``).

    Args:
        op: the single-level pooler class, or its dotted import path (what configs give, e.g.
            ``"maskrcnn_ext.layers.ROIPool"``); built once per stride with ``spatial_scale = 1 / stride``.
        output_size, **op_kwargs: its other constructor arguments.
    """
    return [_pooler_class(op)(output_size=output_size, spatial_scale=1.0 / s, **op_kwargs) for s in strides]


def _pooler_class(op: str | Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    if not isinstance(op, str):
        return op
    if "." not in op and op in registered_names(POOLER_REGISTRY):
        raise ValueError(f"pooler op={op!r}: configs name the class by its import path, "
                         f"e.g. op='maskrcnn_ext.layers.{op}'")
    return locate(op)


def build_pooler(*, op: str | Callable[..., nn.Module] = "maskrcnn_ext.layers.ROIAlign", output_size: int,
                 strides: Sequence[int], canonical_box_size: float = 224.0, canonical_level: int = 4,
                 **op_kwargs) -> MultiLevelROIPooler:
    """Config-friendly constructor: the pooler ``op`` (class or import path) at every stride in ``strides``."""
    return MultiLevelROIPooler(
        level_ops=build_level_ops(op=op, output_size=output_size, strides=strides, **op_kwargs),
        canonical_box_size=canonical_box_size, canonical_level=canonical_level)
