"""The RoI pooling variants the Mask R-CNN paper ablates (Table 2c/d) besides average RoIAlign.

- :class:`ROIPool`: RoI and bins quantized to the feature grid, max over each bin (Fast R-CNN).
- :class:`ROIWarp`: RoI quantized to the feature grid, then bilinear samples per bin, max or average.
- max-aggregated RoIAlign: :class:`~maskrcnn_ext.layers.poolers.ROIAlign` with ``aggregate="max"``,
  built on :func:`bin_samples` below.

All map features ``(B, C, H, W)`` and RoIs ``(R, 5)`` = ``(batch_index, x0, y0, x1, y1)`` in
input-image pixels to ``(R, C, S, S)``.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.ops import roi_pool

from ..registry import POOLER_REGISTRY
from .roi_align_separable import roi_axis_samples

__all__ = ["AGGREGATES", "ROIPool", "ROIWarp", "bin_samples"]

AGGREGATES = ("avg", "max")


def bin_samples(features: Tensor, rois: Tensor, *, output_size: int, spatial_scale: float,
                sampling_ratio: int, aligned: bool, quantize: bool = False) -> Tensor:
    """Every bilinear sample of every bin, before aggregation.

    Positions and edge rules follow ``torchvision.ops.roi_align``: a ``G x G`` grid per bin, samples
    more than one cell off the map are 0, the others clamped to the border. Averaging the samples
    gives RoIAlign.

    Args:
        features: ``(B, C, H, W)``.
        rois: ``(R, 5)`` in input-image pixels.
        output_size: bins S per side.
        spatial_scale: feature-map size / input-image size.
        sampling_ratio: G samples per bin side (> 0).
        aligned: shift coordinates by -0.5 cell (pixel centres at half-integers).
        quantize: round the RoI's corners to the feature grid first (RoIWarp).

    Returns:
        ``(R, C, S, S, G * G)`` sample values, differentiable with respect to ``features``.
    """
    if sampling_ratio <= 0:
        raise ValueError(f"bin_samples needs a fixed sampling_ratio > 0, got {sampling_ratio}")
    batch, channels, height, width = features.shape
    grid = sampling_ratio
    with torch.no_grad():
        ys, xs = roi_axis_samples(rois.to(features.dtype), features.shape, output_size=output_size,
                                  spatial_scale=spatial_scale, sampling_ratio=grid, aligned=aligned,
                                  quantize=quantize)
        # (R, S, G, 2) neighbours and their un-averaged bilinear weights along each axis
        y_idx, x_idx = torch.stack([ys.low, ys.high], -1), torch.stack([xs.low, xs.high], -1)
        y_w, x_w = torch.stack([ys.w_low, ys.w_high], -1) * grid, torch.stack([xs.w_low, xs.w_high], -1) * grid
        # -> (R, Sy, Sx, Gy, Gx, 2, 2): one entry per (bin, sample, neighbour)
        base = rois[:, 0].to(torch.int64)[:, None, None, None, None, None, None] * (height * width)
        index = base + y_idx[:, :, None, :, None, :, None] * width + x_idx[:, None, :, None, :, None, :]
        weight = y_w[:, :, None, :, None, :, None] * x_w[:, None, :, None, :, None, :]
    flat = features.permute(0, 2, 3, 1).reshape(batch * height * width, channels)
    values = flat.index_select(0, index.reshape(-1)).view(*index.shape, channels)
    samples = (values * weight[..., None]).sum(dim=(5, 6))  # (R, Sy, Sx, Gy, Gx, C)
    return samples.permute(0, 5, 1, 2, 3, 4).reshape(len(rois), channels, output_size, output_size, grid * grid)


def aggregate_samples(samples: Tensor, how: str) -> Tensor:
    """``(R, C, S, S, N)`` samples -> ``(R, C, S, S)`` by ``"avg"`` or ``"max"``."""
    return samples.mean(dim=-1) if how == "avg" else samples.amax(dim=-1)


def check_aggregate(owner: str, how: str, sampling_ratio: int | None = None) -> None:
    """Raise a ValueError naming ``owner`` for an unknown aggregate, or for a ``sampling_ratio``
    given (the pooler samples through :func:`bin_samples`) that is not a fixed count > 0."""
    if how not in AGGREGATES:
        raise ValueError(f"{owner}: aggregate must be one of {AGGREGATES}, got {how!r}")
    if sampling_ratio is not None and sampling_ratio <= 0:
        raise ValueError(f"{owner}: aggregate={how!r} needs sampling_ratio > 0, got {sampling_ratio}")


@POOLER_REGISTRY.register()
class ROIPool(nn.Module):
    """RoIPool (Girshick 2015): corners rounded to the feature grid, bins of whole cells, max.

    Args:
        output_size: side S of the pooled output.
        spatial_scale: feature-map size / input-image size (1 / stride).
    """

    def __init__(self, *, output_size: int, spatial_scale: float) -> None:
        super().__init__()
        self.output_size = output_size
        self.spatial_scale = spatial_scale

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        return roi_pool(features, rois.to(features.dtype), self.output_size, self.spatial_scale)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}, spatial_scale={self.spatial_scale}"


@POOLER_REGISTRY.register()
class ROIWarp(nn.Module):
    """RoIWarp (Dai et al. 2016): corners rounded to the feature grid, then bilinear resampling.

    Unlike RoIPool the bins are not quantized; unlike RoIAlign the RoI itself is, which is the
    misalignment the paper's Table 2c measures.

    Args:
        output_size: side S of the pooled output.
        spatial_scale: feature-map size / input-image size (1 / stride).
        sampling_ratio: bilinear samples per bin side.
        aggregate: ``"max"`` or ``"avg"`` over each bin's samples.
    """

    def __init__(self, *, output_size: int, spatial_scale: float, sampling_ratio: int = 2,
                 aggregate: str = "max") -> None:
        super().__init__()
        check_aggregate("ROIWarp", aggregate, sampling_ratio)
        self.output_size = output_size
        self.spatial_scale = spatial_scale
        self.sampling_ratio = sampling_ratio
        self.aggregate = aggregate

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        samples = bin_samples(features, rois, output_size=self.output_size, spatial_scale=self.spatial_scale,
                              sampling_ratio=self.sampling_ratio, aligned=False, quantize=True)
        return aggregate_samples(samples, self.aggregate)

    def extra_repr(self) -> str:
        return (f"output_size={self.output_size}, spatial_scale={self.spatial_scale}, "
                f"sampling_ratio={self.sampling_ratio}, aggregate={self.aggregate!r}")
