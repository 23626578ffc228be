"""ResNet / ResNeXt bottom-up backbones assembled from ``torchvision.models`` residual blocks.

Stage names follow detectron2: ``stem`` (stride 4), ``res2`` (4), ``res3`` (8), ``res4`` (16),
``res5`` (32).
"""
from __future__ import annotations

from functools import partial
from typing import Callable, NamedTuple, Sequence

from torch import Tensor, nn
from torchvision.models.resnet import conv1x1
from torchvision.ops import FrozenBatchNorm2d

from ...registry import BACKBONE_REGISTRY
from .blocks import BasicBlock, Bottleneck, ConvNorm, Stem

__all__ = ["ResNetBottomUp", "get_norm", "freeze_module", "STAGE_NAMES"]

STAGE_NAMES = ("res2", "res3", "res4", "res5")
_STRIDES = {"stem": 4, "res2": 4, "res3": 8, "res4": 16, "res5": 32}


class _Arch(NamedTuple):
    block: type[BasicBlock] | type[Bottleneck]
    depths: tuple[int, int, int, int]
    groups: int = 1
    width_per_group: int = 64


# The torchvision architectures (their blocks, with frozen batch norm folded into the convs), described
# so that their width can be scaled for CPU-scale models.
_ARCHS: dict[str, _Arch] = {
    "resnet18": _Arch(BasicBlock, (2, 2, 2, 2)),
    "resnet34": _Arch(BasicBlock, (3, 4, 6, 3)),
    "resnet50": _Arch(Bottleneck, (3, 4, 6, 3)),
    "resnet101": _Arch(Bottleneck, (3, 4, 23, 3)),
    "resnet152": _Arch(Bottleneck, (3, 8, 36, 3)),
    "resnext50_32x4d": _Arch(Bottleneck, (3, 4, 6, 3), groups=32, width_per_group=4),
    "resnext101_32x8d": _Arch(Bottleneck, (3, 4, 23, 3), groups=32, width_per_group=8),
    "resnext101_64x4d": _Arch(Bottleneck, (3, 4, 23, 3), groups=64, width_per_group=4),
    "wide_resnet50_2": _Arch(Bottleneck, (3, 4, 6, 3), width_per_group=128),
    "wide_resnet101_2": _Arch(Bottleneck, (3, 4, 23, 3), width_per_group=128),
}

DEFAULT_NORM_EPS = 1e-5


def get_norm(norm: str, eps: float = DEFAULT_NORM_EPS) -> Callable[[int], nn.Module] | None:
    """Norm-layer factory for a channel count.

    Args:
        norm: "FrozenBN" (fixed statistics: fine-tuning from pretrained weights), "BN", "SyncBN"
            (trainable, needed when training from scratch), "GN" (32 groups), or "" for none.
        eps: added to the variance before its square root; 1e-5 in torch, torchvision and
            Detectron2, but torchvision's COCO (Mask) R-CNN v1 weights were trained with 0.
    """
    factories: dict[str, Callable[[int], nn.Module] | None] = {
        "": None,
        "FrozenBN": partial(FrozenBatchNorm2d, eps=eps),
        "BN": partial(nn.BatchNorm2d, eps=eps),
        "SyncBN": partial(nn.SyncBatchNorm, eps=eps),
        "GN": lambda channels: nn.GroupNorm(32, channels, eps=eps),
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
        arch: a torchvision ResNet name: resnet18/34/50/101/152, resnext50_32x4d, resnext101_32x8d,
            resnext101_64x4d, wide_resnet50_2, wide_resnet101_2.
        norm: see :func:`get_norm`; "" is not allowed (ResNet blocks need a norm).
        norm_eps: the norm layers' epsilon (see :func:`get_norm`).
        freeze_at: 0 trains everything; 1 freezes the stem; k >= 2 freezes the stem and res2..res{k}.
        out_features: stages to return; stages after the last one are not built.
        width: channels of the stem (64 in every torchvision ResNet); every stage scales with it, so
            32 gives a quarter of the FLOPs (a CPU-scale "narrow" backbone).
        stride_in_1x1: in the first bottleneck of a strided stage, put the stride in the first 1x1
            conv (MSRA's original ResNets, Detectron and Detectron2 weights) instead of the 3x3
            (torchvision's, the default). No effect on basic-block ResNets.
        groups, width_per_group: override the arch's ResNeXt cardinality and per-group width (as
            named for a 64-channel stem: "32x8d" is 32 groups of width 8). A narrow ResNeXt needs
            them: at ``width=16`` a 32x8d keeps only 2 channels per group, whereas 8 groups of
            nominal width 32 keep its 3x3 convs' total width with 8 channels per group. Bottleneck
            archs only.
    """

    def __init__(self, *, arch: str = "resnet50", norm: str = "FrozenBN", freeze_at: int = 2,
                 out_features: Sequence[str] = STAGE_NAMES, width: int = 64, stride_in_1x1: bool = False,
                 norm_eps: float = DEFAULT_NORM_EPS, groups: int | None = None,
                 width_per_group: int | None = None) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f"Unknown ResNet arch {arch!r}; choose one of {sorted(_ARCHS)}")
        unknown = [f for f in out_features if f not in STAGE_NAMES]
        if unknown:
            raise ValueError(f"Unknown out_features {unknown}; available: {list(STAGE_NAMES)}")
        norm_layer = get_norm(norm, norm_eps)
        if norm_layer is None:
            raise ValueError("ResNet needs a norm layer; use FrozenBN, BN, SyncBN or GN")
        spec = _with_groups(_ARCHS[arch], arch, groups, width_per_group)
        self.out_features = tuple(out_features)
        self.stem = Stem(nn.Conv2d(3, width, 7, stride=2, padding=3, bias=False), norm_layer(width),
                         nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        last = max(STAGE_NAMES.index(f) for f in self.out_features)
        self.stage_names = STAGE_NAMES[: last + 1]
        channels, stage_out = width, {}
        for i, name in enumerate(self.stage_names):
            stage = make_stage(spec, in_channels=channels, planes=width * 2**i, depth=spec.depths[i],
                               stride=1 if i == 0 else 2, norm_layer=norm_layer, stride_in_1x1=stride_in_1x1)
            self.add_module(name, stage)
            channels = stage_out[name] = width * 2**i * spec.block.expansion
        self.out_channels = {f: stage_out[f] for f in self.out_features}
        self.strides = {f: _STRIDES[f] for f in self.out_features}
        _init_weights(self)
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


def _with_groups(spec: _Arch, arch: str, groups: int | None, width_per_group: int | None) -> _Arch:
    if groups is None and width_per_group is None:
        return spec
    if spec.block is not Bottleneck:
        raise ValueError(f"groups / width_per_group need a bottleneck arch; {arch!r} has basic blocks")
    return spec._replace(groups=groups or spec.groups, width_per_group=width_per_group or spec.width_per_group)


def make_stage(spec: _Arch, *, in_channels: int, planes: int, depth: int, stride: int,
               norm_layer: Callable[[int], nn.Module], stride_in_1x1: bool = False) -> nn.Sequential:
    """One ResNet stage of torchvision blocks; the first block changes stride and width (in its
    3x3 conv, or in its first 1x1 conv with ``stride_in_1x1``)."""
    out_channels = planes * spec.block.expansion
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = ConvNorm(conv1x1(in_channels, out_channels, stride), norm_layer(out_channels))
    extra = {} if spec.block is BasicBlock else {"groups": spec.groups, "base_width": spec.width_per_group}
    blocks = [spec.block(in_channels, planes, stride, downsample, norm_layer=norm_layer, **extra)]
    if stride_in_1x1 and spec.block is Bottleneck:
        # Same parameters, only where the subsampling happens moves, so state dicts are unchanged.
        blocks[0].conv1.stride, blocks[0].conv2.stride = (stride, stride), (1, 1)
    blocks += [spec.block(out_channels, planes, norm_layer=norm_layer, **extra) for _ in range(depth - 1)]
    return nn.Sequential(*blocks)


def _init_weights(module: nn.Module) -> None:
    """torchvision's ResNet initialization: He-normal convs, unit-scale norms."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def build_res5_head(*, arch: str = "resnet50", norm: str = "FrozenBN", width: int = 64,
                    stride_in_1x1: bool = False, norm_eps: float = DEFAULT_NORM_EPS) -> nn.Sequential:
    """The res5 stage alone (stride 2 first block), used as the box head of C4 models.

    Args:
        arch / norm / width / stride_in_1x1 / norm_eps: as :class:`ResNetBottomUp`.
    """
    spec = _ARCHS[arch]
    return make_stage(spec, in_channels=width * 4 * spec.block.expansion, planes=width * 8,
                      depth=spec.depths[3], stride=2, norm_layer=get_norm(norm, norm_eps),
                      stride_in_1x1=stride_in_1x1)
