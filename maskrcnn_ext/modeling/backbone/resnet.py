"""ResNet / ResNeXt bottom-up backbones built from ``torchvision.models``.

Stage names follow detectron2: ``stem`` (stride 4), ``res2`` (4), ``res3`` (8), ``res4`` (16),
``res5`` (32).
"""
from __future__ import annotations

from typing import Callable, Sequence

from torch import Tensor, nn
from torchvision import models
from torchvision.ops import FrozenBatchNorm2d

from ..registry import BACKBONE_REGISTRY

__all__ = ["ResNetBottomUp", "get_norm", "freeze_module", "STAGE_NAMES"]

STAGE_NAMES = ("res2", "res3", "res4", "res5")
_STRIDES = {"stem": 4, "res2": 4, "res3": 8, "res4": 16, "res5": 32}
_ARCHS: dict[str, Callable[..., models.ResNet]] = {
    "resnet18": models.resnet18,
    "resnet34": models.resnet34,
    "resnet50": models.resnet50,
    "resnet101": models.resnet101,
    "resnext50_32x4d": models.resnext50_32x4d,
    "resnext101_32x8d": models.resnext101_32x8d,
}


def get_norm(norm: str) -> Callable[[int], nn.Module] | None:
    """Norm-layer factory for a channel count.

    Args:
        norm: "FrozenBN" (fixed statistics: fine-tuning from pretrained weights), "BN", "SyncBN"
            (trainable, needed when training from scratch), "GN" (32 groups), or "" for none.
    """
    factories: dict[str, Callable[[int], nn.Module] | None] = {
        "": None,
        "FrozenBN": FrozenBatchNorm2d,
        "BN": nn.BatchNorm2d,
        "SyncBN": nn.SyncBatchNorm,
        "GN": lambda channels: nn.GroupNorm(32, channels),
    }
    if norm not in factories:
        raise ValueError(f"Unknown norm {norm!r}; choose one of {sorted(factories)}")
    return factories[norm]


def freeze_module(module: nn.Module) -> nn.Module:
    """Stop gradients into ``module`` and fix its batch-norm statistics; returns the module."""
    for p in module.parameters():
        p.requires_grad_(False)
    return _freeze_batchnorm(module)


def _freeze_batchnorm(module: nn.Module) -> nn.Module:
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        frozen = FrozenBatchNorm2d(module.num_features, eps=module.eps)
        if module.affine:
            frozen.weight.copy_(module.weight.detach())
            frozen.bias.copy_(module.bias.detach())
        frozen.running_mean.copy_(module.running_mean)
        frozen.running_var.copy_(module.running_var)
        return frozen
    for name, child in module.named_children():
        new_child = _freeze_batchnorm(child)
        if new_child is not child:
            setattr(module, name, new_child)
    return module


@BACKBONE_REGISTRY.register()
class ResNetBottomUp(nn.Module):
    """The convolutional stages of a torchvision ResNet/ResNeXt, returning named feature maps.

    Args:
        arch: one of resnet18/34/50/101, resnext50_32x4d, resnext101_32x8d.
        norm: see :func:`get_norm`; "" is not allowed (ResNet blocks need a norm).
        freeze_at: 0 trains everything; 1 freezes the stem; k >= 2 freezes the stem and res2..res{k}.
        out_features: stages to return; stages after the last one are not built.
    """

    def __init__(self, *, arch: str = "resnet50", norm: str = "FrozenBN", freeze_at: int = 2,
                 out_features: Sequence[str] = STAGE_NAMES) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"Unknown ResNet arch {arch!r}; choose one of {sorted(_ARCHS)}")
        unknown = [f for f in out_features if f not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"Unknown out_features {unknown}; available: {list(STAGE_NAMES)}")
        norm_layer = get_norm(norm)
        if norm_layer is None:
            raise ValueError("ResNet needs a norm layer; use FrozenBN, BN, SyncBN or GN")
        net = _ARCHS[arch](weights=None, norm_layer=norm_layer)
        self.out_features = tuple(out_features)
        self.stem = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        last = max(STAGE_NAMES.index(f) for f in self.out_features)
        self.stage_names = STAGE_NAMES[: last + 1]
        for name, layer in zip(self.stage_names, (net.layer1, net.layer2, net.layer3, net.layer4)):
            self.add_module(name, layer)
        widths = _stage_widths(net)
        self.out_channels = {f: widths[STAGE_NAMES.index(f)] for f in self.out_features}
        self.strides = {f: _STRIDES[f] for f in self.out_features}
        self._freeze(freeze_at)

    def _freeze(self, freeze_at: int) -> None:
        if freeze_at >= 1:
            self.stem = freeze_module(self.stem)
        for index, name in enumerate(self.stage_names, start=2):
            if freeze_at >= index:
                setattr(self, name, freeze_module(getattr(self, name)))

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        """
        Args:
            x: ``(B, 3, H, W)`` normalized images.

        Returns:
            ``{stage: (B, C_stage, H / stride, W / stride)}`` for each of ``out_features``.
        """
        outputs = {}
        x = self.stem(x)
        for name in self.stage_names:
            x = getattr(self, name)(x)
            if name in self.out_features:
                outputs[name] = x
        return outputs


def _stage_widths(net: models.ResNet) -> list[int]:
    widths = []
    for layer in (net.layer1, net.layer2, net.layer3, net.layer4):
        block = layer[-1]
        last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
        widths.append(last_bn.weight.shape[0])
    return widths


def build_res5_head(*, arch: str = "resnet50", norm: str = "FrozenBN") -> nn.Sequential:
    """The res5 stage alone (stride 2 first block), used as the box head of C4 models."""
    net = _ARCHS[arch](weights=None, norm_layer=get_norm(norm))
    return net.layer4


def count_trainable(module: nn.Module) -> int:
    """Number of trainable parameters in ``module``."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


