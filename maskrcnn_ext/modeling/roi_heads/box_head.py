"""Box feature heads: pooled RoI features -> one feature vector per RoI."""
from __future__ import annotations

from typing import Sequence

from torch import nn

from ..backbone.resnet import get_norm
from ...registry import BOX_HEAD_REGISTRY

__all__ = ["FastRCNNConvFCHead", "init_fc", "init_conv"]


def init_fc(layer: nn.Linear) -> nn.Linear:
    """Uniform fan-in init with unit gain (what "xavier fill" means in the Caffe2 lineage)."""
    nn.init.kaiming_uniform_(layer.weight, a=1)
    nn.init.zeros_(layer.bias)
    return layer


def init_conv(layer: nn.Conv2d | nn.ConvTranspose2d) -> nn.Module:
    """He (MSRA) normal init for convs followed by ReLU."""
    nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)
    return layer


@BOX_HEAD_REGISTRY.register()
class FastRCNNConvFCHead(nn.Sequential):
    """Optional 3x3 convs then fully connected layers ("2fc" head when ``conv_dims=()``).

    Args:
        in_channels: channels C of the pooled features.
        pooler_resolution: side S of the pooled features.
        conv_dims: output channels of each 3x3 conv.
        fc_dims: output width of each fc layer (the last is the feature dimension).
        norm: norm after each conv ("" for none).

    Shapes: ``(R, C, S, S) -> (R, fc_dims[-1])``.
    """

    def __init__(self, *, in_channels: int, pooler_resolution: int, conv_dims: Sequence[int] = (),
                 fc_dims: Sequence[int] = (1024, 1024), norm: str = "") -> None:
        super().__init__()
        channels = in_channels
        norm_layer = get_norm(norm)
        for i, dim in enumerate(conv_dims):
            self.add_module(f"conv{i + 1}", init_conv(nn.Conv2d(channels, dim, 3, padding=1,
                                                                bias=norm_layer is None)))
            if norm_layer is not None:
                self.add_module(f"norm{i + 1}", norm_layer(dim))
            self.add_module(f"conv_relu{i + 1}", nn.ReLU(inplace=True))
            channels = dim
        features = channels * pooler_resolution ** 2
        if fc_dims:
            self.add_module("flatten", nn.Flatten())
        for i, dim in enumerate(fc_dims):
            self.add_module(f"fc{i + 1}", init_fc(nn.Linear(features, dim)))
            self.add_module(f"fc_relu{i + 1}", nn.ReLU(inplace=True))
            features = dim
        self.output_dim = features
