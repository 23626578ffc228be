"""The FCN mask head of Mask R-CNN and its training targets."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...layers.mask_ops import crop_and_resize_masks
from ...layers.precision import to_parameter_dtype
from ..backbone.resnet import get_norm
from ...registry import MASK_HEAD_REGISTRY
from .box_head import init_conv

__all__ = ["MaskRCNNConvUpsampleHead", "mask_targets"]


@MASK_HEAD_REGISTRY.register()
class MaskRCNNConvUpsampleHead(nn.Module):
    """The FCN mask head: 3x3 convs (``conv_dims``), a 2x deconv, and a 1x1 per-class predictor.

    Args:
        in_channels: channels C of the pooled features.
        num_classes: K; the predictor emits K masks (1 when ``cls_agnostic``).
        conv_dims: output channels of each 3x3 conv; the last one also sets the deconv width.
        norm: norm after each conv ("" for none).
        cls_agnostic: predict one mask for all classes.
        deconv_dim: output channels of the deconv; None keeps the width of the last conv (or of
            the input when ``conv_dims`` is empty, as in the C4 head that follows res5).

    Shapes: ``(R, C, S, S) -> (R, K, 2S, 2S)`` mask logits.
    """

    def __init__(self, *, in_channels: int, num_classes: int, conv_dims: Sequence[int] = (256,) * 4,
                 norm: str = "", cls_agnostic: bool = False, deconv_dim: int | None = None) -> None:
        super().__init__()
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
        deconv_dim = deconv_dim or channels
        self.deconv = init_conv(nn.ConvTranspose2d(channels, deconv_dim, 2, stride=2))
        self.predictor = nn.Conv2d(deconv_dim, 1 if cls_agnostic else num_classes, 1)
        # A small init keeps the initial masks near probability 0.5 instead of saturated.
        nn.init.normal_(self.predictor.weight, std=0.001)
        nn.init.zeros_(self.predictor.bias)

    def layers(self, x: Tensor) -> Tensor:
        """Features before the predictor, ``(R, C', 2S, 2S)``; override to change the trunk."""
        return F.relu(self.deconv(self.convs(x)))

    def forward(self, x: Tensor) -> Tensor:
        """``(R, C, S, S)`` RoI features -> ``(R, K or 1, 2S, 2S)`` mask logits, in the parameters' dtype."""
        return to_parameter_dtype(self, self.predictor(self.layers(x)))[0]


def mask_targets(proposals: list[dict[str, Tensor]], gt_masks: list[Tensor], size: int) -> Tensor:
    """Binary training targets: each positive RoI's matched ground-truth mask cropped to the RoI.

    Args:
        proposals: per image ``{"boxes": (P, 4), "gt_index": (P,)}`` of positive RoIs.
        gt_masks: per image ``(G, H, W)`` bool masks in the input-image pixels.
        size: mask side M.

    Returns:
        ``(sum P, M, M)`` float targets in {0, 1}.
    """
    targets = [crop_and_resize_masks(masks, p["gt_index"], p["boxes"], size)
               for p, masks in zip(proposals, gt_masks)]
    return (torch.cat(targets) >= 0.5).to(torch.float32)
