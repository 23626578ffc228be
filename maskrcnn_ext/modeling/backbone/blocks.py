"""ResNet building blocks that fold frozen batch norm into the convolution before it.

A frozen batch norm is a fixed per-channel affine map, ``y = x * scale + shift``, so the conv in front
of it can absorb it: convolving with ``weight * scale`` and adding ``shift`` as the bias gives the
same output (up to float rounding) without two extra passes over every feature map. On the CPU those
two elementwise passes took about a tenth of R-50-FPN inference at 800x1333 (``benchmarks/README.md``).

The blocks subclass torchvision's and only override ``forward``, so parameter names, state dicts and
checkpoints are unchanged; a trainable norm (BN, SyncBN, GN) runs as a separate layer as before.
"""
from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import resnet
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["BasicBlock", "Bottleneck", "ConvNorm", "Stem", "conv_norm", "frozen_affine"]


def frozen_affine(norm: FrozenBatchNorm2d) -> tuple[Tensor, Tensor]:
    """Per-channel ``(scale, shift)`` ``(C,)`` of a frozen batch norm: ``norm(x) = x * scale + shift``."""
    scale = norm.weight * (norm.running_var + norm.eps).rsqrt()
    return scale, norm.bias - norm.running_mean * scale


def conv_norm(x: Tensor, conv: nn.Conv2d, norm: nn.Module) -> Tensor:
    """``norm(conv(x))``, as one convolution when ``norm`` is a frozen batch norm.

    Gradients still reach ``conv.weight`` (and ``conv.bias``) through the folded weight.

    Args:
        x: ``(B, C_in, H, W)`` input, in either memory format.
    """
    if not isinstance(norm, FrozenBatchNorm2d):
        return norm(conv(x))
    scale, shift = frozen_affine(norm)
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    return conv._conv_forward(x, weight, bias)


class ConvNorm(nn.Sequential):
    """``Sequential(conv, norm)`` (the projection shortcut) computed with :func:`conv_norm`."""

    def forward(self, x: Tensor) -> Tensor:
        return conv_norm(x, self[0], self[1])


class Stem(nn.Sequential):
    """``Sequential(conv, norm, relu, maxpool)``, the ResNet stem, with the norm folded when frozen."""

    def forward(self, x: Tensor) -> Tensor:
        return self[3](self[2](conv_norm(x, self[0], self[1])))


class BasicBlock(resnet.BasicBlock):
    """torchvision's two-conv residual block with :func:`conv_norm`."""

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(conv_norm(x, self.conv1, self.bn1))
        out = conv_norm(out, self.conv2, self.bn2)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)


class Bottleneck(resnet.Bottleneck):
    """torchvision's bottleneck residual block with :func:`conv_norm`."""

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(conv_norm(x, self.conv1, self.bn1))
        out = self.relu(conv_norm(out, self.conv2, self.bn2))
        out = conv_norm(out, self.conv3, self.bn3)
        out += x if self.downsample is None else self.downsample(x)
        return self.relu(out)
