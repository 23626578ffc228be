"""The keypoint head of Mask R-CNN (the paper's Section 5): convs, a deconv, bilinear upsampling."""
from __future__ import annotations

from typing import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from ...layers.precision import to_parameter_dtype
from ...registry import KEYPOINT_HEAD_REGISTRY
from ..backbone.resnet import get_norm
from .box_head import init_conv

__all__ = ["KRCNNConvDeconvUpsampleHead"]


@KEYPOINT_HEAD_REGISTRY.register()
class KRCNNConvDeconvUpsampleHead(nn.Module):
    """A stack of 3x3 convs, a 2x deconv to one map per keypoint, then a bilinear upsampling.

    With the paper's settings (14x14 RoIAlign input, ``conv_dims=(512,) * 8``, ``up_scale=2``) the
    output is 56x56 per keypoint: the deconv gives 28x28, the bilinear upsampling 56x56. Keypoints
    need the finer grid (the masks' 28x28 is too coarse to localise them).

    Args:
        in_channels: channels C of the pooled features.
        num_keypoints: K, one heatmap per keypoint (class-agnostic, as in the paper).
        conv_dims: output channels of each 3x3 conv (their number is the depth, their value the
            width); empty for none.
        up_scale: factor of the bilinear upsampling after the deconv (1 for none).
        norm: norm after each conv ("" for none).

    Shapes: ``(R, C, S, S) -> (R, K, 2 S up_scale, 2 S up_scale)`` heatmap logits.
    """

    def __init__(self, *, in_channels: int, num_keypoints: int, conv_dims: Sequence[int] = (512,) * 8,
                 up_scale: int = 2, norm: str = "") -> None:
        super().__init__()
        if num_keypoints < 1 or up_scale < 1:
            raise ValueError(f"num_keypoints and up_scale must be >= 1, got {num_keypoints}, {up_scale}")
        norm_layer = get_norm(norm)
        layers: list[nn.Module] = []
        channels = in_channels
        for dim in conv_dims:
            layers.append(init_conv(nn.Conv2d(channels, dim, 3, padding=1, bias=norm_layer is None)))
            if norm_layer is not None:
                layers.append(norm_layer(dim))
            layers.append(nn.ReLU(inplace=True))
            channels = dim
        self.convs = nn.Sequential(*layers)
        # kernel 4, stride 2, padding 1 doubles the side exactly (the deconv Detectron uses).
        self.deconv = init_conv(nn.ConvTranspose2d(channels, num_keypoints, 4, stride=2, padding=1))
        self.num_keypoints = num_keypoints
        self.up_scale = up_scale

    def layers(self, x: Tensor) -> Tensor:
        """Features before the deconv, ``(R, C', S, S)``; override to change the trunk."""
        return self.convs(x)

    def forward(self, x: Tensor) -> Tensor:
        """``(R, C, S, S)`` RoI features -> ``(R, K, M, M)`` logits, in the parameters' dtype."""
        logits = self.deconv(self.layers(x))
        if self.up_scale != 1:
            logits = F.interpolate(logits, scale_factor=self.up_scale, mode="bilinear", align_corners=False)
        return to_parameter_dtype(self, logits)[0]
