"""Anchors with exact (unrounded) cell shapes, a grid offset and known feature strides.

torchvision's :class:`~torchvision.models.detection.anchor_utils.AnchorGenerator`, the RPN's default,
rounds each cell anchor to whole pixels (a 32 px anchor of aspect ratio 0.5 becomes 45 x 22 wide
instead of 45.25 x 22.63) and infers each map's stride as ``padded image size // map size``, which is
wrong when the padded size is not a multiple of the stride (C4 models padded to the batch's largest
image). Detectron2 keeps the exact shapes and takes the strides from the backbone; weights trained
with its anchors need the same anchors to give the same proposals.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import Tensor
from torchvision.models.detection.anchor_utils import AnchorGenerator
from torchvision.models.detection.image_list import ImageList

__all__ = ["GridAnchorGenerator"]


class GridAnchorGenerator(AnchorGenerator):
    """Anchors at every cell of each feature map, in torchvision's layout (per cell ratio-major:
    ``ratio * S + size``; cells row-major), so RPN heads and losses are unchanged.

    Args:
        sizes: per feature map, the anchor sides in pixels (``sqrt`` of the anchor area).
        aspect_ratios: per feature map, height / width ratios.
        strides: per feature map, its stride in input pixels; None infers it from the padded
            image size as torchvision does.
        offset: anchor centres at ``(index + offset) * stride``; 0 puts them on the cell corners
            (torchvision and Detectron2's default), 0.5 at the cell centres.
        round_cell_anchors: round the cell anchors to whole pixels as torchvision does.
    """

    def __init__(self, *, sizes: Sequence[Sequence[float]], aspect_ratios: Sequence[Sequence[float]],
                 strides: Sequence[int] | None = None, offset: float = 0.0,
                 round_cell_anchors: bool = False) -> None:
        self.round_cell_anchors = round_cell_anchors
        super().__init__(tuple(tuple(s) for s in sizes), tuple(tuple(r) for r in aspect_ratios))
        if strides is not None and len(strides) != len(self.sizes):
            raise ValueError(f"{len(strides)} anchor strides for {len(self.sizes)} feature maps")
        self.strides = None if strides is None else tuple(int(s) for s in strides)
        self.offset = float(offset)

    def generate_anchors(self, scales: Sequence[float], aspect_ratios: Sequence[float],
                         dtype: torch.dtype = torch.float32, device: torch.device = torch.device("cpu")) -> Tensor:
        """``(R * S, 4)`` XYXY cell anchors centred on 0, ratio-major.

        Sides are computed in double precision, ``w = size / sqrt(ratio)``, ``h = ratio * w``, and
        only then cast, so they are the float32 values Detectron2 uses.
        """
        rows = []
        for ratio in aspect_ratios:
            for size in scales:
                w = math.sqrt(float(size) ** 2 / float(ratio))
                h = float(ratio) * w
                rows.append([-w / 2.0, -h / 2.0, w / 2.0, h / 2.0])
        anchors = torch.tensor(rows, dtype=torch.float64)
        if self.round_cell_anchors:
            anchors = anchors.round()
        return anchors.to(dtype=dtype, device=device)

    def forward(self, image_list: ImageList, feature_maps: list[Tensor]) -> list[Tensor]:
        """
        Args:
            image_list: the padded batch; feature_maps: ``[(B, C, H_l, W_l)]`` per level.

        Returns:
            per image ``(sum_l H_l * W_l * A, 4)`` anchors, the same for every image.
        """
        dtype, device = feature_maps[0].dtype, feature_maps[0].device
        self.set_cell_anchors(dtype, device)
        padded = image_list.tensors.shape[-2:]
        levels = []
        for index, (cell, fmap) in enumerate(zip(self.cell_anchors, feature_maps)):
            height, width = fmap.shape[-2:]
            stride_y, stride_x = ((self.strides[index],) * 2 if self.strides is not None
                                  else (padded[0] // height, padded[1] // width))
            # Integer cell indices times the stride are exact in float32 for any realistic image.
            xs = (torch.arange(width, dtype=dtype, device=device) + self.offset) * stride_x
            ys = (torch.arange(height, dtype=dtype, device=device) + self.offset) * stride_y
            grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
            shifts = torch.stack([grid_x, grid_y, grid_x, grid_y], dim=-1).reshape(-1, 1, 4)
            levels.append((shifts + cell.view(1, -1, 4)).reshape(-1, 4))
        anchors = torch.cat(levels)
        return [anchors for _ in image_list.image_sizes]
