"""Converters from Detectron2's and MSRA's ``.pkl`` weights to this toolkit's parameter names.

Two sources, both pickled dicts of numpy arrays (read with :mod:`.pickle_io`):

- Detectron2's model zoo (``model_final_*.pkl``): ``{"model": {name: array}, "__author__": ...}``
  with Detectron2's module names (``backbone.bottom_up.res2.0.conv1.norm.running_var``,
  ``backbone.fpn_lateral2``, ``proposal_generator.rpn_head.objectness_logits``, ``roi_heads.res5``,
  ``roi_heads.mask_head.mask_fcn1``, ...), Mask R-CNN with an FPN or C4 ResNet of any depth and width;
- MSRA / Detectron1 caffe2 ImageNet backbones (``R-50.pkl``): caffe2 blob names (``conv1_w``,
  ``res2_0_branch2a_w``, ``res2_0_branch2a_bn_s`` / ``_bn_b``, ...) with batch norm fused into a
  per-channel scale and bias.

The converters are pure functions: arrays in, a :class:`Conversion` (toolkit state dict plus a record
of every renamed and dropped source tensor) out. A source tensor no rule converts is an error, never
silently left behind. Shapes are not assumed, so narrow and standard widths convert alike. The
converted weights compute what Detectron2 computes only in a model configured as Detectron2's
(stride in the 1x1 convs, BGR input, unrounded anchors; see ``configs/Pretrained/``).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

__all__ = ["Conversion", "caffe2_names_for", "convert_caffe2_resnet", "convert_detectron2_model", "is_detectron2_zoo"]

logger = logging.getLogger(__name__)

_REPORT_NAMES = 5


@dataclass
class Conversion:
    """The result of converting one source file.

    Attributes:
        state: toolkit name -> tensor.
        renamed: source name -> toolkit name, for every converted source tensor.
        dropped: source names deliberately left out (an ImageNet classifier, solver state).
        source_format: ``"detectron2"`` or ``"caffe2"``.
    """

    state: dict[str, Tensor] = field(default_factory=dict)
    renamed: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    source_format: str = ""

    def summary(self) -> str:
        dropped = ", ".join(self.dropped[:_REPORT_NAMES]) + (" ..." if len(self.dropped) > _REPORT_NAMES else "")
        return (f"converted {len(self.renamed)} {self.source_format} tensors to {len(self.state)} toolkit tensors; "
                f"dropped {len(self.dropped)}{': ' + dropped if self.dropped else ''}")


def is_detectron2_zoo(data: Any) -> bool:
    """True for Detectron2's model-zoo layout ``{"model": {name: array}, "__author__": ...}``."""
    return isinstance(data, Mapping) and isinstance(data.get("model"), Mapping) and "__author__" in data


def _tensor(name: str, value: Any) -> Tensor:
    if not isinstance(value, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(value).__name__}")
    return torch.from_numpy(np.ascontiguousarray(value)).clone()


def _finish(conversion: Conversion, source: Mapping[str, Any]) -> Conversion:
    """Refuse a conversion that left a source tensor neither renamed nor dropped, or merged two."""
    left = [k for k in source if k not in conversion.renamed and k not in conversion.dropped]
    if left:
        raise ValueError(f"{conversion.source_format} conversion left {len(left)} source tensors unconverted "
                         f"(no rule maps them): {', '.join(sorted(left)[:10])}")
    if len(conversion.state) != len(conversion.renamed):
        raise ValueError(f"{conversion.source_format} conversion mapped {len(conversion.renamed)} tensors "
                         f"onto only {len(conversion.state)} names")
    logger.info("%s", conversion.summary())
    return conversion


# --- Detectron2 model zoo ---------------------------------------------------------------------------

# Inside a ResNet block Detectron2 names the norm after its conv (``conv1.norm``); torchvision's
# blocks, which the toolkit's ResNets are, name it ``bn1``, and the projection shortcut ``downsample``.
_BLOCK_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"(?P<p>.*)stem\.conv1\.weight"), r"\g<p>stem.0.weight"),
    (re.compile(r"(?P<p>.*)stem\.conv1\.norm\.(?P<t>\w+)"), r"\g<p>stem.1.\g<t>"),
    (re.compile(r"(?P<p>.*\.\d+)\.conv(?P<i>[123])\.weight"), r"\g<p>.conv\g<i>.weight"),
    (re.compile(r"(?P<p>.*\.\d+)\.conv(?P<i>[123])\.norm\.(?P<t>\w+)"), r"\g<p>.bn\g<i>.\g<t>"),
    (re.compile(r"(?P<p>.*\.\d+)\.shortcut\.weight"), r"\g<p>.downsample.0.weight"),
    (re.compile(r"(?P<p>.*\.\d+)\.shortcut\.norm\.(?P<t>\w+)"), r"\g<p>.downsample.1.\g<t>"),
]

_HEAD_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"proposal_generator\.rpn_head\.conv\.(?P<t>\w+)"), r"proposal_generator.head.conv.0.0.\g<t>"),
    (re.compile(r"roi_heads\.box_head\.(?P<m>fc\d+)\.(?P<t>\w+)"), r"roi_heads.box_head.\g<m>.\g<t>"),
    (re.compile(r"roi_heads\.box_head\.conv(?P<i>\d+)\.norm\.(?P<t>\w+)"), r"roi_heads.box_head.norm\g<i>.\g<t>"),
    (re.compile(r"roi_heads\.box_head\.conv(?P<i>\d+)\.(?P<t>\w+)"), r"roi_heads.box_head.conv\g<i>.\g<t>"),
    (re.compile(r"roi_heads\.box_predictor\.(?P<m>cls_score|bbox_pred)\.(?P<t>\w+)"),
     r"roi_heads.box_predictor.\g<m>.\g<t>"),
    (re.compile(r"roi_heads\.mask_head\.(?P<m>deconv|predictor)\.(?P<t>\w+)"), r"roi_heads.mask_head.\g<m>.\g<t>"),
]

_RESNET_KEY = re.compile(r"((backbone\.bottom_up\.|backbone\.)(stem|res\d\.\d+)|roi_heads\.res5\.\d+)\..*")
_FPN_KEY = re.compile(r"backbone\.fpn_(?P<kind>lateral|output)(?P<level>\d+)\.(?P<t>\w+)")
_MASK_FCN_KEY = re.compile(r"roi_heads\.mask_head\.mask_fcn(?P<i>\d+)\.(?P<norm>norm\.)?(?P<t>\w+)")
_RPN_PREDICTOR_KEY = re.compile(r"proposal_generator\.rpn_head\.(?P<m>objectness_logits|anchor_deltas)\.(?P<t>\w+)")


def _apply_rules(name: str, rules: list[tuple[re.Pattern[str], str]]) -> str | None:
    for pattern, replacement in rules:
        match = pattern.fullmatch(name)
        if match:
            return match.expand(replacement)
    return None


def _resnet_name(name: str) -> str | None:
    """``backbone[.bottom_up].resN.i...`` keeps its prefix; C4's ``roi_heads.res5.i`` becomes the
    toolkit's res5 box head ``roi_heads.box_head.i``."""
    if not _RESNET_KEY.fullmatch(name):
        return None
    if name.startswith("roi_heads.res5."):
        name = "roi_heads.box_head." + name[len("roi_heads.res5."):]
    return _apply_rules(name, _BLOCK_RULES)


def _anchor_order(num_anchors: int, num_aspect_ratios: int) -> list[int]:
    """Source channel for each toolkit anchor channel: Detectron2 orders a cell's anchors size-major
    (``size * R + ratio``), torchvision's anchor generator (the toolkit's) ratio-major."""
    if num_anchors % num_aspect_ratios:
        raise ValueError(f"RPN predicts {num_anchors} anchors per cell, not a multiple of "
                         f"{num_aspect_ratios} aspect ratios")
    sizes = num_anchors // num_aspect_ratios
    return [s * num_aspect_ratios + r for r in range(num_aspect_ratios) for s in range(sizes)]


def _rpn_predictor(name: str, value: Tensor, num_aspect_ratios: int) -> tuple[str, Tensor]:
    match = _RPN_PREDICTOR_KEY.fullmatch(name)
    assert match is not None
    per_anchor = 1 if match["m"] == "objectness_logits" else 4  # deltas: (A * 4) rows, 4 per anchor
    order = _anchor_order(value.shape[0] // per_anchor, num_aspect_ratios)
    grouped = value.reshape(len(order), per_anchor, *value.shape[1:])[order]
    target = "cls_logits" if match["m"] == "objectness_logits" else "bbox_pred"
    return f"proposal_generator.head.{target}.{match['t']}", grouped.reshape(value.shape)


def convert_detectron2_model(model: Mapping[str, Any], *, num_aspect_ratios: int = 3) -> Conversion:
    """Rename a Detectron2 Mask R-CNN (FPN or C4 ResNet) state to the toolkit's names.

    Args:
        model: the zoo file's ``"model"`` dict, Detectron2 name -> array.
        num_aspect_ratios: anchor aspect ratios per cell, to reorder the RPN predictors' anchor
            channels when a feature map has several anchor sizes (C4).

    Returns:
        A :class:`Conversion`; tensors keep their shapes (and values, up to the RPN channel order).

    Raises:
        ValueError: a source tensor matches no rule.
    """
    conversion = Conversion(source_format="detectron2")
    fpn_levels = [int(m["level"]) for m in map(_FPN_KEY.fullmatch, model) if m]
    first_level = min(fpn_levels, default=0)
    mask_norm = any(_MASK_FCN_KEY.fullmatch(k) and ".norm." in k for k in model)
    for name, array in model.items():
        value = _tensor(name, array)
        target = _resnet_name(name) or _apply_rules(name, _HEAD_RULES)
        if target is None and (match := _FPN_KEY.fullmatch(name)):
            blocks = "inner_blocks" if match["kind"] == "lateral" else "layer_blocks"
            target = f"backbone.fpn.{blocks}.{int(match['level']) - first_level}.0.{match['t']}"
        elif target is None and (match := _MASK_FCN_KEY.fullmatch(name)):
            # convs is Sequential(conv, [norm,] relu) per layer.
            step = 3 if mask_norm else 2
            target = f"roi_heads.mask_head.convs.{(int(match['i']) - 1) * step + bool(match['norm'])}.{match['t']}"
        elif target is None and _RPN_PREDICTOR_KEY.fullmatch(name):
            target, value = _rpn_predictor(name, value, num_aspect_ratios)
        if target is None:
            continue
        conversion.state[target] = value
        conversion.renamed[name] = target
    return _finish(conversion, model)


# --- MSRA / Detectron1 caffe2 -----------------------------------------------------------------------

_CAFFE2_BLOCK = re.compile(r"res(?P<stage>\d)_(?P<block>\d+)_branch(?P<branch>1|2a|2b|2c)_(?P<kind>w|bn_s|bn_b)")
_CAFFE2_STEM = {"conv1_w": "stem.0.weight", "res_conv1_bn_s": "stem.1.weight", "res_conv1_bn_b": "stem.1.bias"}
_BRANCH_MODULES = {"1": ("downsample.0", "downsample.1"), "2a": ("conv1", "bn1"), "2b": ("conv2", "bn2"),
                   "2c": ("conv3", "bn3")}


def _caffe2_dropped(name: str) -> bool:
    """The ImageNet classifier and caffe2 solver state, which a detector has no use for."""
    return name.startswith("fc1000_") or name.endswith("_momentum")


def _caffe2_resnet_name(name: str) -> str | None:
    """Toolkit ResNet name (without the module prefix) of a caffe2 blob, or None."""
    if name in _CAFFE2_STEM:
        return _CAFFE2_STEM[name]
    match = _CAFFE2_BLOCK.fullmatch(name)
    if match is None:
        return None
    conv, norm = _BRANCH_MODULES[match["branch"]]
    block = f"res{match['stage']}.{match['block']}"
    return {"w": f"{block}.{conv}.weight", "bn_s": f"{block}.{norm}.weight", "bn_b": f"{block}.{norm}.bias"}[
        match["kind"]]


def convert_caffe2_resnet(blobs: Mapping[str, Any], *, prefix: Callable[[str], str] | str = "backbone.bottom_up.",
                          bn_eps: float = 1e-5, match_detectron2: bool = True) -> Conversion:
    """Rename an MSRA / Detectron1 caffe2 ResNet to the toolkit's names, unfusing its batch norms.

    caffe2 stores each batch norm as the affine map ``x * s + b``; the toolkit's FrozenBN computes
    ``(x - mean) / sqrt(var + eps) * weight + bias`` and gets ``weight = s``, ``bias = b``,
    ``mean = 0``. Detectron2, loading such a file, fills the missing running variance with ones
    (``FrozenBatchNorm2d._load_from_state_dict`` for checkpoints without a version), so it computes
    ``x * s / sqrt(1 + eps) + b``: ``var = 1`` here reproduces that (measured on the fixture: 0.005
    at res5 with ``var = 1 - eps``, 2.5e-5 with ``var = 1``). ``match_detectron2=False`` gives
    ``var = 1 - eps``, the exact ``x * s + b`` of the caffe2 model.

    Args:
        blobs: caffe2 blob name -> array (the file's dict, or its ``"blobs"`` entry).
        prefix: the model's module path to the ResNet (``"backbone.bottom_up."`` in FPN models,
            ``"backbone."`` in C4 ones), or a function from the ResNet-relative name
            (``"res5.0.conv1.weight"``) to the model's full name, for C4 models whose res5 is the box
            head (:func:`caffe2_names_for`).
        bn_eps: the epsilon of the model's FrozenBN layers (used when not ``match_detectron2``).
        match_detectron2: running variance 1, as Detectron2 loads these files; False: ``1 - bn_eps``.

    Returns:
        A :class:`Conversion` listing ``fc1000_*`` (and any ``*_momentum``) as dropped.

    Raises:
        ValueError: a blob matches no rule.
    """
    full_name = prefix if callable(prefix) else (lambda relative, fixed=prefix: fixed + relative)
    conversion = Conversion(source_format="caffe2")
    for name, array in blobs.items():
        if _caffe2_dropped(name):
            conversion.dropped.append(name)
            continue
        relative = _caffe2_resnet_name(name)
        if relative is None:
            continue
        target = full_name(relative)
        value = _tensor(name, array)
        conversion.state[target] = value
        conversion.renamed[name] = target
        if name.endswith("_bn_s") or name == "res_conv1_bn_s":
            norm = target[: -len("weight")]
            conversion.state[norm + "running_mean"] = torch.zeros_like(value)
            conversion.state[norm + "running_var"] = torch.full_like(value, 1.0 if match_detectron2 else 1.0 - bn_eps)
    return _finish_caffe2(conversion, blobs)


def caffe2_names_for(model_keys: Collection[str]) -> Callable[[str], str]:
    """Where a model keeps its ResNet: ResNet-relative name -> the model's name.

    The ResNet is wherever ``stem.0.weight`` is (``backbone.bottom_up.`` in FPN models, ``backbone.``
    in C4 ones, ``""`` for a bare backbone); a res5 the backbone lacks goes to a C4 model's res5 box
    head (``roi_heads.box_head.<block>...``) when the model has one.
    """
    keys = set(model_keys)
    base = next((k[: -len("stem.0.weight")] for k in sorted(keys) if k.endswith("stem.0.weight")),
                "backbone.bottom_up.")

    def full_name(relative: str) -> str:
        head = "roi_heads.box_head." + relative[len("res5."):]
        if relative.startswith("res5.") and base + relative not in keys and head in keys:
            return head
        return base + relative

    return full_name


def _finish_caffe2(conversion: Conversion, blobs: Mapping[str, Any]) -> Conversion:
    """:func:`_finish`, counting the running statistics made for each unfused batch norm."""
    made = sum(1 for k in conversion.state if k.endswith(("running_mean", "running_var")))
    left = [k for k in blobs if k not in conversion.renamed and k not in conversion.dropped]
    if left:
        raise ValueError(f"caffe2 conversion left {len(left)} blobs unconverted (no rule maps them): "
                         f"{', '.join(sorted(left)[:10])}")
    if len(conversion.state) - made != len(conversion.renamed):
        raise ValueError(f"caffe2 conversion mapped {len(conversion.renamed)} blobs onto "
                         f"{len(conversion.state) - made} names")
    logger.info("%s (plus %d running statistics of unfused batch norms)", conversion.summary(), made)
    return conversion
