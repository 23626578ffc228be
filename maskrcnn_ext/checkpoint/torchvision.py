"""Converting torchvision ImageNet ResNet/ResNeXt weights into the toolkit's state-dict names.

A conversion is a pure function: a torchvision state dict in, a :class:`Conversion` out (the
toolkit's state dict plus which source keys were renamed to what and which were dropped, and why).
Nothing here builds a model; the structure of a checkpoint is read from its tensor shapes.

The toolkit's :class:`~maskrcnn_ext.modeling.backbone.ResNetBottomUp` is built from torchvision's
own residual blocks, so inside a block every name is unchanged; only the stem and the stage names
differ (``conv1``/``bn1`` -> ``stem.0``/``stem.1``, ``layer1..4`` -> ``res2..5``). Where the stages
live in a full detector depends on the meta-architecture, see :data:`BACKBONE_TARGETS`.

torchvision's ImageNet files hold ``nn.BatchNorm2d`` statistics; the toolkit's ``FrozenBN``
(torchvision's ``FrozenBatchNorm2d``, eps 1e-5, the same eps as ``nn.BatchNorm2d``) computes the
same affine map from them in eval mode, so only ``num_batches_tracked`` (which FrozenBN lacks) is
dropped, and kept when the target backbone uses a trainable BN (``backbone_norm="BN"``). (The COCO
Mask R-CNN v1 file is the exception: trained with eps 0, see its config's ``norm_eps``.)

The Mask R-CNN (COCO) converters are in :mod:`maskrcnn_ext.checkpoint.torchvision_detection`.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["BACKBONE_TARGETS", "Conversion", "ResNetStructure", "TORCHVISION_RESNETS", "check_resnet_arch",
           "convert_torchvision_resnet", "is_torchvision_resnet", "rename_resnet_key", "resnet_structure"]

logger = logging.getLogger(__name__)

_NUM_BATCHES_TRACKED = "num_batches_tracked"
# Keys that only a torchvision detection checkpoint has; a classification converter refuses them.
_DETECTION_PREFIXES = ("backbone.", "rpn.", "roi_heads.")


@dataclass
class Conversion:
    """The result of converting a foreign state dict.

    Attributes:
        state_dict: toolkit name -> tensor.
        renamed: source name -> toolkit name, for every tensor carried over (also unchanged names).
        dropped: source name -> why it was left out (a classifier, a BN counter, a background row...).
        notes: other changes worth a log line (e.g. rows re-ordered or selected).
    """

    state_dict: dict[str, Tensor] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, source: str, target: str, value: Tensor) -> None:
        """Carry ``value`` from ``source`` over as ``target``, refusing to overwrite a name."""
        if target in self.state_dict:
            raise ValueError(f"Two source tensors map to {target!r} (the second is {source!r})")
        self.state_dict[target] = value
        self.renamed[source] = target

    def drop(self, source: str, reason: str) -> None:
        self.dropped[source] = reason

    def summary(self) -> str:
        """Counts, each reason for dropping with its count, and the notes."""
        reasons: dict[str, int] = {}
        for reason in self.dropped.values():
            reasons[reason] = reasons.get(reason, 0) + 1
        lines = [f"converted {len(self.state_dict)} tensors, dropped {len(self.dropped)}"]
        lines += [f"  dropped {count}: {reason}" for reason, count in sorted(reasons.items())]
        return "\n".join(lines + [f"  {note}" for note in self.notes])


class ResNetStructure(NamedTuple):
    """What a ResNet state dict's shapes say about its architecture.

    Attributes:
        bottleneck: Bottleneck blocks (conv3 present) rather than BasicBlocks.
        depths: blocks in each of the four stages.
        groups: groups of the 3x3 convs (32 for ResNeXt-32xd).
        width_per_group: channels per group of the first stage's 3x3 conv (64 for plain ResNets).
        stem_width: output channels of the stem conv (64 in torchvision).
    """

    bottleneck: bool
    depths: tuple[int, ...]
    groups: int
    width_per_group: int
    stem_width: int


# torchvision's ImageNet ResNets, described by the structure of their weights.
TORCHVISION_RESNETS: dict[str, ResNetStructure] = {
    "resnet18": ResNetStructure(False, (2, 2, 2, 2), 1, 64, 64),
    "resnet34": ResNetStructure(False, (3, 4, 6, 3), 1, 64, 64),
    "resnet50": ResNetStructure(True, (3, 4, 6, 3), 1, 64, 64),
    "resnet101": ResNetStructure(True, (3, 4, 23, 3), 1, 64, 64),
    "resnet152": ResNetStructure(True, (3, 8, 36, 3), 1, 64, 64),
    "resnext50_32x4d": ResNetStructure(True, (3, 4, 6, 3), 32, 4, 64),
    "resnext101_32x8d": ResNetStructure(True, (3, 4, 23, 3), 32, 8, 64),
    "resnext101_64x4d": ResNetStructure(True, (3, 4, 23, 3), 64, 4, 64),
    "wide_resnet50_2": ResNetStructure(True, (3, 4, 6, 3), 1, 128, 64),
    "wide_resnet101_2": ResNetStructure(True, (3, 4, 23, 3), 1, 128, 64),
}

# Where the four stages go in each kind of toolkit model: (prefix of stem + res2..res4, prefix of res5).
# "c4": the C4 config's backbone stops at res4 and its ROI heads run res5 per RoI as their box head
# (configs/common/models/mask_rcnn_c4.py), a bare nn.Sequential of blocks.
BACKBONE_TARGETS: dict[str, tuple[str, str]] = {
    "backbone": ("", "res5."),
    "fpn": ("backbone.bottom_up.", "backbone.bottom_up.res5."),
    "c5": ("backbone.", "backbone.res5."),
    "c4": ("backbone.", "roi_heads.box_head."),
}

_STAGE = re.compile(r"^layer([1-4])\.(.*)$")


def rename_resnet_key(key: str) -> str | None:
    """The toolkit name of one torchvision ResNet key, relative to the bottom-up backbone.

    Args:
        key: e.g. ``"layer3.4.bn2.weight"``.

    Returns:
        e.g. ``"res4.4.bn2.weight"``; ``"stem.0.weight"`` for ``"conv1.weight"``; None for a key
        outside the convolutional trunk (the ``fc`` classifier).
    """
    if key.startswith("conv1."):
        return "stem.0." + key[len("conv1."):]
    if key.startswith("bn1."):
        return "stem.1." + key[len("bn1."):]
    match = _STAGE.match(key)
    if match:
        return f"res{int(match.group(1)) + 1}.{match.group(2)}"
    return None


def resnet_structure(state_dict: Mapping[str, Tensor], prefix: str = "") -> ResNetStructure:
    """Read a torchvision ResNet's structure from the shapes of its weights.

    Args:
        state_dict: a torchvision ResNet state dict (its trunk under ``prefix``).
        prefix: e.g. ``"backbone.body."`` for the trunk of a detection checkpoint.

    Raises:
        ValueError: the keys are not those of a torchvision ResNet trunk.
    """
    stem = state_dict.get(f"{prefix}conv1.weight")
    if stem is None or f"{prefix}layer1.0.conv1.weight" not in state_dict:
        raise ValueError(f"Not a torchvision ResNet state dict: no {prefix}conv1.weight / {prefix}layer1.0.conv1.weight "
                         f"(first keys: {', '.join(list(state_dict)[:4])})")
    depths = []
    for stage in range(1, 5):
        blocks = {int(k[len(prefix):].split(".")[1]) for k in state_dict if k.startswith(f"{prefix}layer{stage}.")}
        depths.append(max(blocks) + 1 if blocks else 0)
    bottleneck = f"{prefix}layer1.0.conv3.weight" in state_dict
    conv2 = state_dict[f"{prefix}layer1.0.conv2.weight"]  # (out, in / groups, 3, 3)
    groups = conv2.shape[0] // conv2.shape[1]
    return ResNetStructure(bottleneck, tuple(depths), groups, conv2.shape[0] // groups, int(stem.shape[0]))


def _arch_name(structure: ResNetStructure) -> str:
    """The torchvision arch name of a structure, or a description when it is none of them."""
    for name, known in TORCHVISION_RESNETS.items():
        if known == structure:
            return name
    block = "Bottleneck" if structure.bottleneck else "BasicBlock"
    return (f"an unknown ResNet ({block}, depths {structure.depths}, groups {structure.groups}, "
            f"width per group {structure.width_per_group}, stem width {structure.stem_width})")


def check_resnet_arch(state_dict: Mapping[str, Tensor], arch: str | None, prefix: str = "",
                      source: str = "checkpoint") -> str:
    """The arch name the weights hold; raise if it is not ``arch`` (when given).

    Raises:
        ValueError: another architecture, with both named.
    """
    found = _arch_name(resnet_structure(state_dict, prefix))
    if arch is not None and found != arch:
        expected = TORCHVISION_RESNETS.get(arch)
        detail = f" ({expected})" if expected else ""
        raise ValueError(f"The torchvision {source} holds {found} weights, but the model is {arch}{detail}; "
                         "convert a file of the model's architecture or change the model's arch")
    return found


def _keep_bn_counter(key: str, backbone_norm: str) -> bool:
    """``num_batches_tracked`` only exists in trainable BN layers; FrozenBN has no such buffer."""
    return not key.endswith(_NUM_BATCHES_TRACKED) or backbone_norm in ("BN", "SyncBN")


def convert_resnet_trunk(state_dict: Mapping[str, Tensor], conversion: Conversion, *, source_prefix: str = "",
                         target: str = "backbone", backbone_norm: str = "FrozenBN") -> None:
    """Add the trunk tensors found under ``source_prefix`` to ``conversion`` (shared with the
    detection converters, whose trunk is under ``backbone.body.``).

    Args:
        state_dict: torchvision names -> tensors.
        conversion: filled in place.
        source_prefix: where the trunk's ``conv1``/``layer*`` keys are.
        target: a key of :data:`BACKBONE_TARGETS`.
        backbone_norm: the target backbone's norm; FrozenBN drops ``num_batches_tracked``.
    """
    if target not in BACKBONE_TARGETS:
        raise ValueError(f"Unknown target {target!r}; choose one of {sorted(BACKBONE_TARGETS)}")
    trunk_prefix, res5_prefix = BACKBONE_TARGETS[target]
    for key, value in state_dict.items():
        if not key.startswith(source_prefix):
            continue
        name = rename_resnet_key(key[len(source_prefix):])
        if name is None:
            conversion.drop(key, "the ImageNet classifier (fc), not part of the backbone")
        elif not _keep_bn_counter(key, backbone_norm):
            conversion.drop(key, f"BN num_batches_tracked ({backbone_norm} has none)")
        elif name.startswith("res5."):
            conversion.put(key, res5_prefix + name[len("res5."):], value)
        else:
            conversion.put(key, trunk_prefix + name, value)


def convert_torchvision_resnet(state_dict: Mapping[str, Tensor], *, arch: str | None = None,
                               target: str = "backbone", backbone_norm: str = "FrozenBN") -> Conversion:
    """torchvision ImageNet ResNet/ResNeXt weights (V1 or V2 files; same layout) -> toolkit names.

    Args:
        state_dict: ``torchvision.models.resnet50().state_dict()`` or a file of that kind.
        arch: the toolkit model's ``arch`` (e.g. ``"resnet50"``); the weights must be of it. None
            accepts any torchvision ResNet.
        target: where the stages go (:data:`BACKBONE_TARGETS`): ``"backbone"`` for a bare
            :class:`ResNetBottomUp`, ``"fpn"``/``"c4"``/``"c5"`` for the full Mask R-CNN of that
            config family.
        backbone_norm: the target backbone's norm: ``"FrozenBN"`` drops BN ``num_batches_tracked``,
            ``"BN"``/``"SyncBN"`` keep it.

    Returns:
        A :class:`Conversion`; the ``fc`` classifier is among ``dropped``.

    Raises:
        ValueError: a detection checkpoint, a state dict that is no ResNet, or another arch.
    """
    detection = [k for k in state_dict if k.startswith(_DETECTION_PREFIXES)]
    if detection:
        raise ValueError(f"This is a torchvision detection checkpoint ({detection[0]!r}), not ImageNet "
                         "classification weights; convert it with "
                         "maskrcnn_ext.checkpoint.torchvision_detection.convert_torchvision_mask_rcnn")
    found = check_resnet_arch(state_dict, arch, source="classification state dict")
    conversion = Conversion()
    convert_resnet_trunk(state_dict, conversion, target=target, backbone_norm=backbone_norm)
    leftovers = [k for k in state_dict if k not in conversion.renamed and k not in conversion.dropped]
    if leftovers:
        raise ValueError(f"Unexpected keys in a torchvision {found} state dict: {leftovers[:5]}")
    logger.info("torchvision %s -> toolkit (%s):\n%s", found, target, conversion.summary())
    return conversion


def is_torchvision_resnet(state_dict: Mapping[str, torch.Tensor]) -> bool:
    """Whether a state dict looks like a torchvision ImageNet ResNet (for format dispatch)."""
    return "conv1.weight" in state_dict and "layer1.0.conv1.weight" in state_dict
