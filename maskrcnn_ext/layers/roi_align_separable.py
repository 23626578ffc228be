"""RoIAlign as two small matrix products per RoI (fast on the CPU): the backward pass, and the
forward pass on channels-last maps.

RoIAlign averages bilinear samples taken on a regular ``grid_h x grid_w`` grid in every bin. Both the
bilinear weights and the grid factor into a y part and an x part, so the pooled output of one RoI is

    out[c] = Ay @ F[c, y0:y0+Ky, x0:x0+Kx] @ Ax^T

with ``Ay`` of shape ``(S, Ky)`` and ``Ax`` of shape ``(S, Kx)`` holding each bin's averaged
interpolation weights over the rows and columns its samples touch. The gradient with respect to the
window is then ``Ay^T @ G[c] @ Ax``: two batched matmuls and one ``index_add`` of whole channel rows
into the feature gradient. torchvision's CPU backward kernel instead recomputes the bilinear weights
for every channel and scatters single values, which made it the third most expensive op of a CPU
training step after the convolutions (numbers in ``benchmarks/README.md``). Its forward kernel is
used as is in training (NCHW maps); at channels-last inference the same product gives the forward
pass (:func:`roi_align_channels_last`).

Values and gradients equal torchvision's up to float rounding, including its edge rules: samples
more than one cell outside the map contribute zero, the others are clamped to the border.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable
from torchvision.ops import roi_align as tv_roi_align

__all__ = ["AxisSamples", "axis_samples", "roi_align_channels_last", "roi_align_separable", "roi_axis_samples"]

# Elements (4 bytes each) of the largest window tensor one forward or backward chunk builds.
_WINDOW_BUDGET = 1 << 22


class AxisSamples(NamedTuple):
    """Bilinear neighbours and weights of every sample along one axis, each ``(R, S, G)``."""

    low: Tensor
    high: Tensor
    w_low: Tensor
    w_high: Tensor


def axis_samples(start: Tensor, size: Tensor, *, bins: int, sampling_ratio: int, length: int) -> AxisSamples:
    """Sample positions of every bin along one axis and their two interpolation neighbours.

    Args:
        start, size: ``(R,)`` RoI start and extent along the axis, in feature-map cells.
        bins: output bins S along the axis.
        sampling_ratio: samples per bin, or 0 for ``ceil(size / bins)`` per RoI.
        length: feature-map extent along the axis.

    Returns:
        neighbours ``low <= high`` in ``[0, length - 1]`` and weights already divided by the number of
        samples per bin (so summing them over samples averages), zero for dropped samples.
    """
    if sampling_ratio > 0:
        grid = torch.full_like(size, float(sampling_ratio))
    else:
        grid = torch.ceil(size / bins).clamp(min=0)
    max_grid = max(int(grid.max().item()), 1) if grid.numel() else 1
    step = torch.arange(max_grid, dtype=size.dtype, device=size.device)
    bin_size = (size / bins)[:, None, None]
    # Sample s of bin i sits at start + i * bin + (s + 0.5) * bin / grid.
    pos = start[:, None, None] + torch.arange(bins, dtype=size.dtype, device=size.device)[None, :, None] * bin_size
    pos = pos + (step[None, None, :] + 0.5) * bin_size / grid.clamp(min=1)[:, None, None]
    keep = (pos >= -1.0) & (pos <= length) & (step[None, None, :] < grid[:, None, None])
    pos = pos.clamp(min=0)
    low = pos.floor().to(torch.int64)
    at_end = low >= length - 1
    low = torch.where(at_end, torch.full_like(low, length - 1), low)
    high = torch.where(at_end, low, low + 1)
    frac = torch.where(at_end, torch.zeros_like(pos), pos - low.to(pos.dtype))
    scale = keep.to(pos.dtype) / grid.clamp(min=1)[:, None, None]
    return AxisSamples(low, high, (1.0 - frac) * scale, frac * scale)


def _axis_matrix(samples: AxisSamples, origin: Tensor, window: int) -> Tensor:
    """``(R, S, window)`` averaged interpolation weights over the cells ``origin + [0, window)``."""
    r, bins, _ = samples.low.shape
    matrix = samples.w_low.new_zeros((r, bins, window))
    offset = origin[:, None, None]
    matrix.scatter_add_(2, samples.low - offset, samples.w_low)
    matrix.scatter_add_(2, samples.high - offset, samples.w_high)
    return matrix


class _Span(NamedTuple):
    """Per-RoI first cell and number of cells its samples touch along one axis, each ``(R,)``."""

    start: Tensor
    size: Tensor


def _span(samples: AxisSamples) -> _Span:
    start = samples.low.amin(dim=(1, 2))
    return _Span(start, samples.high.amax(dim=(1, 2)) - start + 1)


def _take(rows: NamedTuple, index: Tensor) -> NamedTuple:
    """The same named tuple of tensors, restricted to the RoIs in ``index``."""
    return type(rows)(*(t.index_select(0, index) for t in rows))


def _size_groups(y: _Span, x: _Span) -> list[Tensor]:
    """RoI indices grouped by the power of two above their window side, so padding stays below 2x."""
    group = torch.ceil(torch.log2(torch.maximum(y.size, x.size).to(torch.float32))).to(torch.int64)
    return [torch.nonzero(group == g).squeeze(1) for g in torch.unique(group).tolist()]


def _window_index(batch_index: Tensor, y0: Tensor, x0: Tensor, win_y: int, win_x: int,
                  height: int, width: int) -> Tensor:
    """Flat cell index ``(R, win_y, win_x)`` into ``(B*H*W)`` of each RoI's window."""
    rows = (y0[:, None] + torch.arange(win_y, device=y0.device)).clamp(max=height - 1)
    cols = (x0[:, None] + torch.arange(win_x, device=x0.device)).clamp(max=width - 1)
    # Window cells past the map's edge carry zero weight; clamping only keeps their indices valid.
    return (batch_index[:, None, None] * height + rows[:, :, None]) * width + cols[:, None, :]


def roi_axis_samples(rois: Tensor, shape: torch.Size, *, output_size: int, spatial_scale: float,
                     sampling_ratio: int, aligned: bool, quantize: bool = False
                     ) -> tuple[AxisSamples, AxisSamples]:
    """Per-axis (y, x) samples of every RoI, following torchvision's ``roi_align`` conventions.

    Args:
        rois: ``(R, 5)`` RoIs in input-image pixels.
        shape: the feature map's shape ``(B, C, H, W)``.
        quantize: round the corners to the feature grid first (RoIWarp).
        Others as in :func:`roi_align_separable`.
    """
    height, width = shape[-2:]
    boxes = rois[:, 1:] * spatial_scale
    if quantize:
        boxes = boxes.round()
    boxes = boxes - (0.5 if aligned else 0.0)
    roi_w, roi_h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    if not aligned:  # the original convention forces RoIs to at least one cell
        roi_w, roi_h = roi_w.clamp(min=1.0), roi_h.clamp(min=1.0)
    ys = axis_samples(boxes[:, 1], roi_h, bins=output_size, sampling_ratio=sampling_ratio, length=height)
    xs = axis_samples(boxes[:, 0], roi_w, bins=output_size, sampling_ratio=sampling_ratio, length=width)
    return ys, xs


def _window_chunks(ys: AxisSamples, xs: AxisSamples, batch_index: Tensor, shape: torch.Size
                   ) -> Iterator[tuple[Tensor, Tensor, Tensor, Tensor]]:
    """RoIs in bounded chunks of similar window size, with their axis matrices and window cells.

    Yields:
        ``members`` ``(r,)`` RoI indices, ``ay`` ``(r, S, Ky)``, ``ax`` ``(r, S, Kx)`` and the flat
        cell ``index`` ``(r, Ky, Kx)`` into ``(B*H*W)`` of each member's window.
    """
    channels, height, width = shape[1:]
    y_span, x_span = _span(ys), _span(xs)
    for group in _size_groups(y_span, x_span):
        win_y = int(y_span.size.index_select(0, group).max().item())
        win_x = int(x_span.size.index_select(0, group).max().item())
        # Bounded temporaries: the (R, Ky, Kx * C) windows of hundreds of RoIs would take gigabytes.
        chunk = max(1, _WINDOW_BUDGET // (win_y * win_x * channels))
        for members in group.split(chunk):
            group_ys, group_xs, y, x = (_take(t, members) for t in (ys, xs, y_span, x_span))
            ay, ax = _axis_matrix(group_ys, y.start, win_y), _axis_matrix(group_xs, x.start, win_x)
            yield members, ay, ax, _window_index(batch_index[members], y.start, x.start, win_y, win_x,
                                                 height, width)


def _roi_align_backward(grad: Tensor, rois: Tensor, shape: torch.Size, spatial_scale: float,
                        sampling_ratio: int, aligned: bool) -> Tensor:
    """Gradient ``(B, C, H, W)`` of RoIAlign with respect to its features, given ``grad`` ``(R, C, S, S)``."""
    batch, channels, height, width = shape
    bins = grad.shape[-1]
    ys, xs = roi_axis_samples(rois.to(grad.dtype), shape, output_size=bins, spatial_scale=spatial_scale,
                              sampling_ratio=sampling_ratio, aligned=aligned)
    grad = grad.permute(0, 2, 3, 1)  # (R, Sy, Sx, C): channels last, so index_add moves whole rows
    flat = grad.new_zeros((batch * height * width, channels))
    for members, ay, ax, index in _window_chunks(ys, xs, rois[:, 0].to(torch.int64), shape):
        r, win_y, win_x = index.shape
        # Two plain batched matmuls: spread over x first, then (after moving y next to R) over y.
        g = grad.index_select(0, members).transpose(1, 2).reshape(r, bins, bins * channels)
        along_x = torch.bmm(ax.transpose(1, 2), g).view(r, win_x, bins, channels)
        along_x = along_x.transpose(1, 2).reshape(r, bins, win_x * channels)
        window = torch.bmm(ay.transpose(1, 2), along_x)  # (R, Ky, Kx * C)
        flat.index_add_(0, index.reshape(-1), window.view(-1, channels))
    return flat.view(batch, height, width, channels).permute(0, 3, 1, 2).contiguous()


def roi_align_channels_last(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float,
                            sampling_ratio: int, aligned: bool) -> Tensor:
    """RoIAlign forward as ``Ay @ window @ Ax^T`` on a channels-last map, for inference.

    Each window cell is a contiguous row of C channels, so gathering the windows is a row copy and
    the two products run over all channels at once. torchvision's CPU kernel needs an NCHW map (a
    full copy of a channels-last one) and reads every sample of every channel separately, so its time
    also grows with the number of samples per bin; here only the window size matters.

    Args and semantics as in :func:`roi_align_separable`; ``features`` is best channels-last
    (otherwise it is copied into that layout first). It computes in the map's dtype, also under
    autocast: a bfloat16 map (a bfloat16 FPN's output) is pooled by bfloat16 products, with the
    sample positions and weights computed in float32, instead of being copied whole into float32 for
    torchvision's kernel, which has no bfloat16 CPU version. One difference from torchvision: a window is padded to the largest of its size group
    with zero-weight cells, so an inf or NaN in the map near (not inside) a RoI also makes its output
    NaN; only a diverged model has such maps.

    Returns:
        ``(R, C, S, S)`` pooled features (channels-last strides).
    """
    with torch.autocast(features.device.type, enabled=False):
        return _roi_align_channels_last(features, rois, output_size, spatial_scale, sampling_ratio, aligned)


def _roi_align_channels_last(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float,
                             sampling_ratio: int, aligned: bool) -> Tensor:
    channels = features.shape[1]
    # Sample positions and weights in at least float32: in bfloat16 a coordinate near 800 px would
    # move in steps of 4 px. Only the products with the map run in its (possibly reduced) dtype.
    position_dtype = features.dtype if features.dtype == torch.float64 else torch.float32
    ys, xs = roi_axis_samples(rois.to(position_dtype), features.shape, output_size=output_size,
                              spatial_scale=spatial_scale, sampling_ratio=sampling_ratio, aligned=aligned)
    flat = features.permute(0, 2, 3, 1).reshape(-1, channels)  # a view for a channels-last map
    out = features.new_zeros((len(rois), output_size, output_size, channels))
    for members, ay, ax, index in _window_chunks(ys, xs, rois[:, 0].to(torch.int64), features.shape):
        r, win_y, win_x = index.shape
        window = flat.index_select(0, index.reshape(-1)).view(r, win_y, win_x * channels)
        ay, ax = ay.to(flat.dtype), ax.to(flat.dtype)
        along_y = torch.bmm(ay, window).view(r, output_size, win_x, channels)  # (r, Sy, Kx, C)
        out.index_copy_(0, members, torch.matmul(ax[:, None], along_y))  # (r, Sy, Sx, C)
    return out.permute(0, 3, 1, 2)


class _ROIAlignFunction(torch.autograd.Function):
    """torchvision's forward kernel with the separable backward; RoIs get no gradient."""

    @staticmethod
    def forward(ctx, features, rois, output_size, spatial_scale, sampling_ratio, aligned):
        ctx.save_for_backward(rois)
        ctx.config = (features.shape, spatial_scale, sampling_ratio, aligned)
        return tv_roi_align(features, rois, output_size, spatial_scale, sampling_ratio, aligned)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad):
        (rois,) = ctx.saved_tensors
        shape, spatial_scale, sampling_ratio, aligned = ctx.config
        features_grad = _roi_align_backward(grad, rois, shape, spatial_scale, sampling_ratio, aligned)
        return features_grad, None, None, None, None, None


def roi_align_separable(features: Tensor, rois: Tensor, output_size: int, spatial_scale: float,
                        sampling_ratio: int, aligned: bool) -> Tensor:
    """RoIAlign with the semantics of ``torchvision.ops.roi_align`` (square output).

    The forward pass is torchvision's kernel; the backward pass uses the separable form above.

    Args:
        features: ``(B, C, H, W)`` feature map.
        rois: ``(R, 5)`` rows ``(batch_index, x0, y0, x1, y1)`` in input-image pixels.
        output_size: side S of the pooled output.
        spatial_scale: feature-map size / input-image size.
        sampling_ratio: samples per bin side; 0 means ``ceil(roi_size / S)`` per RoI.
        aligned: shift RoI coordinates by -0.5 cell (pixel centres at half-integers).

    Returns:
        ``(R, C, S, S)`` pooled features, differentiable with respect to ``features``.
    """
    return _ROIAlignFunction.apply(features, rois.detach(), output_size, spatial_scale, sampling_ratio,
                                   aligned)
