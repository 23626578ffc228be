"""Feature Pyramid Network on top of a bottom-up backbone (``torchvision.ops.FeaturePyramidNetwork``)."""
from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import torch
from torch import Tensor, nn
from torchvision.ops import FeaturePyramidNetwork
from torchvision.ops.feature_pyramid_network import LastLevelMaxPool

from ...layers.precision import to_parameter_dtype
from ...registry import BACKBONE_REGISTRY
from .resnet import get_norm

__all__ = ["FPN"]


@BACKBONE_REGISTRY.register()
class FPN(nn.Module):
    """Top-down pyramid with lateral connections; outputs ``p2..p5`` plus ``p6`` (max-pooled p5).

    Args:
        bottom_up: module returning ``{name: (B, C, H, W)}`` and exposing ``out_channels`` and
            ``strides`` dicts (e.g. :class:`ResNetBottomUp`).
        in_features: bottom-up maps to use, finest first.
        out_channels: channels of every pyramid level.
        norm: norm after the lateral/output convs ("" for none, "GN" or "BN" when training from scratch).
        top_block: add ``p6`` by stride-2 max pooling of the coarsest level (used by the RPN only).
        full_precision: run the pyramid (lateral convs, top-down sums, output convs) in the
            parameters' dtype even under autocast, while the bottom-up network stays in reduced
            precision. For the narrow from-scratch CPU demo, a bfloat16 pyramid cost 0.3-0.5 bbox and
            1.0-1.1 segm AP against float32, a float32 one at most 0.15 and 0.2 (two checkpoints,
            benchmarks/README.md), at a small price there (32 channels). At 256 channels the output
            convs are about a third of R-50-FPN's FLOPs, so the default keeps them in bfloat16.
    """

    def __init__(self, *, bottom_up: nn.Module, in_features: Sequence[str] = ("res2", "res3", "res4", "res5"),
                 out_channels: int = 256, norm: str = "", top_block: bool = True,
                 full_precision: bool = False) -> None:
        super().__init__()
        self.bottom_up = bottom_up
        self.in_features = tuple(in_features)
        self.fpn = FeaturePyramidNetwork(
            [bottom_up.out_channels[f] for f in self.in_features], out_channels,
            extra_blocks=LastLevelMaxPool() if top_block else None, norm_layer=get_norm(norm))
        in_strides = [bottom_up.strides[f] for f in self.in_features]
        self.level_names = [f"p{s.bit_length() - 1}" for s in in_strides]
        if top_block:
            self.level_names.append(f"p{in_strides[-1].bit_length()}")
        self.strides = {name: 2 ** int(name[1:]) for name in self.level_names}
        self.out_channels = {name: out_channels for name in self.level_names}
        self.full_precision = full_precision

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """
        Args:
            x: ``(B, 3, H, W)`` normalized images, H and W divisible by the coarsest stride.

        Returns:
            ``{"p2": (B, C, H/4, W/4), ..., "p6": (B, C, H/64, W/64)}``.
        """
        bottom_up = self.bottom_up(x)
        levels = [bottom_up[f] for f in self.in_features]
        if self.full_precision and torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                pyramid = self.fpn(OrderedDict(zip(self.in_features, to_parameter_dtype(self.fpn, *levels))))
        else:
            pyramid = self.fpn(OrderedDict(zip(self.in_features, levels)))
        return dict(zip(self.level_names, pyramid.values()))
