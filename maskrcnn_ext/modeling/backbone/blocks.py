"""ResNet building blocks that fold a fixed batch norm into the convolution before it.

A frozen batch norm, or a trainable one in eval mode, is a fixed per-channel affine map,
``y = x * scale + shift``, so the conv in front of it can absorb it: convolving with
``weight * scale`` and adding ``shift`` as the bias gives the same output (up to float rounding)
without two extra passes over every feature map. On the CPU those passes took about a tenth of
R-50-FPN inference at 800x1333 (``benchmarks/README.md``).

The blocks subclass torchvision's and only override ``forward``, so parameter names, state dicts and
checkpoints are unchanged. A norm that normalizes with batch statistics (BN in training mode) or per
sample (GN) runs as a separate layer, as before.
"""
from __future__ import annotations

from torch import Tensor, nn
from torchvision.models import resnet
from torchvision.ops import FrozenBatchNorm2d

__all__ = ["BasicBlock", "Bottleneck", "ConvNorm", "Stem", "conv_norm", "fixed_affine"]


def fixed_affine(norm: nn.Module) -> tuple[Tensor, Tensor] | None:
    """Per-channel ``(scale, shift)`` ``(C,)`` with ``norm(x) = x * scale + shift``, when ``norm`` is
    a fixed map: a frozen batch norm, or a batch norm in eval mode with running statistics.
    None for any other norm."""
    fixed = isinstance(norm, FrozenBatchNorm2d) or (
        isinstance(norm, nn.modules.batchnorm._BatchNorm) and not norm.training and norm.running_var is not None)
    if not fixed:
        return None
    scale = (norm.running_var + norm.eps).rsqrt()
    if norm.weight is not None:  # a batch norm built with affine=False has neither weight nor bias
        scale = scale * norm.weight
    shift = -norm.running_mean * scale
    return scale, shift if norm.bias is None else shift + norm.bias


def conv_norm(x: Tensor, conv: nn.Conv2d, norm: nn.Module) -> Tensor:
    """``norm(conv(x))``, as one convolution when ``norm`` is a fixed affine map (:func:`fixed_affine`).

    Gradients still reach ``conv.weight`` (and ``conv.bias``) through the folded weight.

    Args:
        x: ``(B, C_in, H, W)`` input, in either memory format.
    """
    affine = fixed_affine(norm)
    if affine is None:
        return norm(conv(x))
    scale, shift = affine
    # Folded on every call rather than with torch.nn.utils.fusion.fuse_conv_bn_weights: that returns
    # new leaf Parameters, which would cut the gradient to conv.weight in training.
    weight = conv.weight * scale.reshape(-1, 1, 1, 1)
    bias = shift if conv.bias is None else conv.bias * scale + shift
    # A half-precision conv after a float32 norm keeps computing in half precision.
    return conv._conv_forward(x, weight.to(conv.weight.dtype), bias.to(conv.weight.dtype))


class ConvNorm(nn.Sequential):
    """``Sequential(conv, norm)`` (the projection shortcut) computed with :func:`conv_norm`."""

    def forward(self, x: Tensor) -> Tensor:
        return conv_norm(x, self[0], self[1])


class Stem(nn.Sequential):
    """``Sequential(conv, norm, relu, maxpool)``, the ResNet stem, with the norm folded when fixed."""

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
