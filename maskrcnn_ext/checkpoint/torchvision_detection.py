"""Converting torchvision's COCO Mask R-CNN (and Faster R-CNN) weights into the toolkit's FPN model.

Supports ``maskrcnn_resnet50_fpn`` (v1: 2-fc box head) and ``maskrcnn_resnet50_fpn_v2`` (BN in the
FPN, a 2-conv RPN head, a 4-conv + 1-fc box head with BN, BN in the mask head), including the key
names older torchvision files carry (renamed at load time by torchvision's ``_load_from_state_dict``
version hooks, here renamed explicitly). The toolkit configs that express each are
``configs/Pretrained/mask_rcnn_R_50_FPN_torchvision_v{1,2}.py``.

Name mapping (torchvision -> toolkit):

- ``backbone.body.*`` -> ``backbone.bottom_up.*`` (stages renamed, :mod:`.torchvision`);
  ``backbone.fpn.*`` unchanged (the toolkit's FPN wraps torchvision's FeaturePyramidNetwork);
- ``rpn.*`` -> ``proposal_generator.*`` (the toolkit's RPN is torchvision's);
- box head: ``fc6``/``fc7`` -> ``fc1``/``fc2``; v2's ``{i}.0`` conv / ``{i}.1`` BN -> ``conv{k}`` /
  ``norm{k}`` and its Linear -> ``fc{j}``;
- mask head: ``mask_head.{i}.0`` -> ``mask_head.convs.{2i}`` (``{3i}``, and the BN at ``{3i+1}``,
  with norm); ``mask_predictor.conv5_mask`` -> ``mask_head.deconv``, ``mask_fcn_logits`` ->
  ``mask_head.predictor``.

Classes. torchvision predicts 91 slots: background at index 0 and the COCO category ids 1..90, ten
of which (12, 26, 29, 30, 45, 66, 68, 69, 71, 83) are holes no annotation uses. The toolkit's
``FastRCNNOutputLayers`` has K + 1 scores with background LAST and 4K deltas (none for background),
and its mask head K channels, with class k the k-th dataset category in sorted id order (how
``maskrcnn_ext.data.coco`` maps category ids). So scores become rows ``[ids..., 0]``, deltas and mask
channels rows ``ids``. Dropping the hole rows removes their terms from the softmax denominator:
probabilities are unchanged only as far as those logits are negligible, which they are in weights
trained on COCO (no example ever has those labels, so their logits are driven far down).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from .torchvision import Conversion, check_resnet_arch, convert_resnet_trunk, is_torchvision_resnet

__all__ = ["COCO_CATEGORY_IDS", "convert_torchvision_mask_rcnn", "is_torchvision_detection",
           "modernize_legacy_keys"]

logger = logging.getLogger(__name__)

# The 80 COCO category ids, sorted: toolkit class k is torchvision's slot COCO_CATEGORY_IDS[k].
_COCO_HOLES = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
COCO_CATEGORY_IDS: tuple[int, ...] = tuple(i for i in range(1, 91) if i not in _COCO_HOLES)

_BODY, _FPN, _RPN = "backbone.body.", "backbone.fpn.", "rpn."
_BOX_HEAD, _BOX_PRED = "roi_heads.box_head.", "roi_heads.box_predictor."
_MASK_HEAD, _MASK_PRED = "roi_heads.mask_head.", "roi_heads.mask_predictor."

# Old torchvision names -> current ones: the renames of the version-1 -> 2 hooks of RPNHead,
# FeaturePyramidNetwork and MaskRCNNHeads (their Conv2dNormActivation wrappers added a ".0").
_LEGACY = (
    (re.compile(r"^rpn\.head\.conv\.(weight|bias)$"), lambda m: f"rpn.head.conv.0.0.{m[1]}"),
    (re.compile(r"^backbone\.fpn\.(inner_blocks|layer_blocks)\.(\d+)\.(weight|bias)$"),
     lambda m: f"backbone.fpn.{m[1]}.{m[2]}.0.{m[3]}"),
    (re.compile(r"^roi_heads\.mask_head\.mask_fcn(\d+)\.(weight|bias)$"),
     lambda m: f"roi_heads.mask_head.{int(m[1]) - 1}.0.{m[2]}"),
)


def is_torchvision_detection(state_dict: Mapping[str, Tensor]) -> bool:
    """Whether a state dict looks like a torchvision (Mask/Faster) R-CNN (for format dispatch)."""
    return f"{_BODY}conv1.weight" in state_dict and f"{_BOX_PRED}cls_score.weight" in state_dict


def modernize_legacy_keys(state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Tensor], dict[str, str]]:
    """Rename the keys of files saved by older torchvision to the current names.

    Returns:
        The renamed state dict, and ``{old: new}`` for the keys that changed.
    """
    renamed: dict[str, str] = {}
    out: dict[str, Tensor] = {}
    for key, value in state_dict.items():
        new = key
        for pattern, replace in _LEGACY:
            match = pattern.match(key)
            if match:
                new = replace(match)
                renamed[key] = new
                break
        out[new] = value
    return out, renamed


def _under(state_dict: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """The entries under ``prefix``, with it removed from their names."""
    return {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)}


def _by_index(entries: Mapping[str, Tensor]) -> dict[int, dict[str, Tensor]]:
    """``{"3.1.weight": t}`` -> ``{3: {"1.weight": t}}``, sorted by the leading index."""
    groups: dict[int, dict[str, Tensor]] = {}
    for name, value in entries.items():
        index, _, rest = name.partition(".")
        groups.setdefault(int(index), {})[rest] = value
    return dict(sorted(groups.items()))


def _norm_entry(conversion: Conversion, source: str, target: str, value: Tensor, head_norm: str) -> None:
    """A head's BN tensor; ``num_batches_tracked`` only where the toolkit's norm has it (BN)."""
    if source.endswith("num_batches_tracked") and head_norm not in ("BN", "SyncBN"):
        conversion.drop(source, f"BN num_batches_tracked ({head_norm} has none)")
    else:
        conversion.put(source, target, value)


def _convert_box_head(state_dict: Mapping[str, Tensor], conversion: Conversion, head_norm: str) -> None:
    """torchvision's TwoMLPHead (fc6, fc7) or FastRCNNConvFCHead (Conv2dNormActivation..., Flatten,
    Linear, ReLU...) -> the toolkit's FastRCNNConvFCHead (conv{k}, norm{k}, fc{j})."""
    entries = _under(state_dict, _BOX_HEAD)
    two_mlp = {"fc6": "fc1", "fc7": "fc2"}
    if any(name.split(".")[0] in two_mlp for name in entries):
        for name, value in entries.items():
            layer, _, param = name.partition(".")
            conversion.put(_BOX_HEAD + name, f"{_BOX_HEAD}{two_mlp[layer]}.{param}", value)
        return
    convs = fcs = 0
    for index, params in _by_index(entries).items():
        if "weight" in params:  # a Linear
            fcs += 1
            for param, value in params.items():
                conversion.put(f"{_BOX_HEAD}{index}.{param}", f"{_BOX_HEAD}fc{fcs}.{param}", value)
            continue
        convs += 1  # a Conv2dNormActivation: .0 the conv, .1 its norm
        for name, value in params.items():
            part, _, param = name.partition(".")
            target = f"{_BOX_HEAD}{'conv' if part == '0' else 'norm'}{convs}.{param}"
            _norm_entry(conversion, f"{_BOX_HEAD}{index}.{name}", target, value, head_norm)


def _convert_mask_head(state_dict: Mapping[str, Tensor], conversion: Conversion, head_norm: str) -> None:
    """torchvision's MaskRCNNHeads (``{i}.0`` conv, ``{i}.1`` norm) -> the toolkit's ``convs``
    Sequential, whose layers are conv, [norm,] ReLU per conv."""
    entries = _under(state_dict, _MASK_HEAD)
    has_norm = any(name.split(".")[1] == "1" for name in entries)
    stride = 3 if has_norm else 2
    for name, value in entries.items():
        index, part, param = name.split(".", 2)
        target = f"{_MASK_HEAD}convs.{stride * int(index) + int(part)}.{param}"
        _norm_entry(conversion, _MASK_HEAD + name, target, value, head_norm)


def _check_class_indices(class_indices: Sequence[int] | None, num_slots: int) -> list[int]:
    """torchvision slots kept as toolkit classes 0..K-1: COCO's 80 ids for a 91-slot COCO model,
    else every non-background slot."""
    if class_indices is None:
        class_indices = COCO_CATEGORY_IDS if num_slots == 91 else range(1, num_slots)
    indices = [int(i) for i in class_indices]
    bad = [i for i in indices if not 0 < i < num_slots]
    if bad or len(set(indices)) != len(indices) or not indices:
        raise ValueError(f"class_indices must be distinct torchvision slots in 1..{num_slots - 1} (0 is "
                         f"background), got {indices[:10]}{'...' if len(indices) > 10 else ''}")
    return indices


def _convert_class_layers(state_dict: Mapping[str, Tensor], conversion: Conversion,
                          indices: list[int]) -> None:
    """Scores ``(1 + S, D)`` -> ``(K + 1, D)`` background last; deltas ``(4 (1 + S), D)`` -> ``(4K, D)``;
    mask logits ``(1 + S, C, 1, 1)`` -> ``(K, C, 1, 1)``, K = ``len(indices)``."""
    order = torch.tensor(indices)
    for param in ("weight", "bias"):
        key = f"{_BOX_PRED}cls_score.{param}"
        conversion.put(key, key, state_dict[key][torch.cat([order, order.new_zeros(1)])].clone())
        key = f"{_BOX_PRED}bbox_pred.{param}"
        deltas = state_dict[key]
        per_class = deltas.reshape(-1, 4, *deltas.shape[1:])  # (1 + S, 4, D) or (1 + S, 4)
        if per_class.shape[0] == 1:
            raise ValueError("Class-agnostic box regression (4 deltas) is not supported by this converter")
        conversion.put(key, key, per_class[order].reshape(-1, *deltas.shape[1:]).clone())
        key = f"{_MASK_PRED}mask_fcn_logits.{param}"
        if key in state_dict:
            conversion.put(key, f"{_MASK_HEAD}predictor.{param}", state_dict[key][order].clone())
        key = f"{_MASK_PRED}conv5_mask.{param}"
        if key in state_dict:
            conversion.put(key, f"{_MASK_HEAD}deconv.{param}", state_dict[key])
    num_slots = state_dict[f"{_BOX_PRED}cls_score.weight"].shape[0]
    dropped = sorted(set(range(1, num_slots)) - set(indices))
    conversion.notes.append(f"class rows: torchvision slots {indices[:3]}... -> classes 0..{len(indices) - 1}, "
                            f"background (slot 0) moved last, its deltas dropped; "
                            f"{len(dropped)} unused slots dropped {dropped}")


def convert_torchvision_mask_rcnn(state_dict: Mapping[str, Tensor], *, class_indices: Sequence[int] | None = None,
                                  arch: str | None = "resnet50", backbone_norm: str = "FrozenBN",
                                  head_norm: str = "BN") -> Conversion:
    """torchvision ``maskrcnn_resnet50_fpn`` (v1) / ``_v2`` weights -> the toolkit's FPN Mask R-CNN.

    Also converts the matching Faster R-CNN files (no mask branch in, none out).

    Args:
        state_dict: a torchvision detection model's state dict (current or legacy key names).
        class_indices: torchvision slots that become the toolkit's classes 0..K-1, in order;
            default the 80 COCO category ids for a 91-slot model, else slots 1..S.
        arch: the toolkit backbone's arch, checked against the weights (None: any ResNet).
        backbone_norm: the toolkit backbone's norm (``FrozenBN`` drops BN counters).
        head_norm: the toolkit's norm in the FPN and heads where the file has BN (v2): ``"BN"``
            keeps ``num_batches_tracked``.

    Returns:
        A :class:`~maskrcnn_ext.checkpoint.torchvision.Conversion`; legacy renames are in
        ``notes`` and ``renamed`` maps the original names.

    Raises:
        ValueError: ImageNet weights, another detector (RetinaNet, keypoints...), another backbone.
    """
    if is_torchvision_resnet(state_dict):
        raise ValueError("This is a torchvision ImageNet classification state dict, not a detection checkpoint; "
                         "convert it with maskrcnn_ext.checkpoint.torchvision.convert_torchvision_resnet")
    if not is_torchvision_detection(state_dict):
        raise ValueError(f"Not a torchvision Mask/Faster R-CNN state dict: no {_BODY}conv1.weight and "
                         f"{_BOX_PRED}cls_score.weight (first keys: {', '.join(list(state_dict)[:4])})")
    modern, legacy = modernize_legacy_keys(state_dict)
    check_resnet_arch(modern, arch, prefix=_BODY, source="detection checkpoint's backbone")
    conversion = Conversion()
    convert_resnet_trunk(modern, conversion, source_prefix=_BODY, target="fpn", backbone_norm=backbone_norm)
    for key, value in modern.items():
        if key.startswith(_FPN):
            _norm_entry(conversion, key, key, value, head_norm)
        elif key.startswith(_RPN):
            conversion.put(key, "proposal_generator." + key[len(_RPN):], value)
    _convert_box_head(modern, conversion, head_norm)
    _convert_mask_head(modern, conversion, head_norm)
    num_slots = modern[f"{_BOX_PRED}cls_score.weight"].shape[0]
    _convert_class_layers(modern, conversion, _check_class_indices(class_indices, num_slots))
    leftovers = [k for k in modern if k not in conversion.renamed and k not in conversion.dropped]
    if leftovers:
        raise ValueError(f"Keys of no Mask R-CNN part in this torchvision checkpoint (another detector?): "
                         f"{leftovers[:5]}")
    _restore_legacy_names(conversion, legacy)
    logger.info("torchvision Mask R-CNN -> toolkit FPN Mask R-CNN:\n%s", conversion.summary())
    return conversion


def _restore_legacy_names(conversion: Conversion, legacy: Mapping[str, str]) -> None:
    """Report renames and drops under the names the file actually had."""
    if not legacy:
        return
    back = {new: old for old, new in legacy.items()}
    conversion.renamed = {back.get(k, k): v for k, v in conversion.renamed.items()}
    conversion.dropped = {back.get(k, k): v for k, v in conversion.dropped.items()}
    conversion.notes.append(f"{len(legacy)} legacy torchvision key names read as current ones "
                            f"(e.g. {next(iter(legacy))} -> {next(iter(legacy.values()))})")
