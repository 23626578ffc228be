"""One entry point for every foreign weights file: read it safely, tell its format, convert it, and say
which model options the converted weights need.

    converted = convert_weights("R-50.pkl")          # MSRA caffe2 ImageNet ResNet-50
    converted.overrides  # {"backbone.arch": "resnet50", "backbone.stride_in_1x1": True, "input_format": "BGR", ...}
    torch.save(converted.state_dict, "R-50.pth")

ImageNet backbones convert to *bare* backbone names (``stem.0.weight``, ``res2.0.conv1.weight``...),
which :func:`place_backbone_state` puts where a given model keeps its ResNet (an FPN's bottom-up,
a C4 backbone plus its res5 box head, a C5 backbone); detectors convert to whole-model names.
"""
from __future__ import annotations

import logging
import os
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torchvision
from torch import Tensor

from .detectron2 import caffe2_names_for, convert_caffe2_resnet, convert_detectron2_model, is_detectron2_zoo
from .pickle_io import load_array_pickle
from .torchvision import (
    TORCHVISION_RESNETS,
    ResNetStructure,
    convert_torchvision_resnet,
    is_torchvision_resnet,
    resnet_structure,
)
from .torchvision_detection import COCO_CATEGORY_IDS, convert_torchvision_mask_rcnn, is_torchvision_detection

__all__ = ["FORMATS", "ConvertedWeights", "convert_state", "convert_weights", "is_bare_backbone",
           "place_backbone_state", "read_raw_weights"]

logger = logging.getLogger(__name__)

MODEL_KEY = "model"  # a training checkpoint keeps the model's state dict under it
FORMATS = ("auto", "toolkit", "torchvision", "detectron2", "caffe2")
_C4_RES5 = "roi_heads.box_head."
_PRETRAINED = "configs/Pretrained/mask_rcnn_{}_detectron2.py"
# (arch, FPN) -> the shipped config computing what Detectron2's model of that backbone computes.
_DETECTRON2_CONFIGS = {("resnet50", True): "R_50_FPN", ("resnet101", True): "R_101_FPN",
                       ("resnext101_32x8d", True): "X_101_32x8d_FPN", ("resnet50", False): "R_50_C4",
                       ("resnet101", False): "R_101_C4"}
_BARE = re.compile(r"(stem|res[2-5])\.")
_CAFFE2_BGR_MEAN = [103.53, 116.28, 123.675]
# Detectron2's configs for these ImageNet files: MSRA ResNets put the stride in the 1x1 conv and were
# trained on unscaled BGR pixels; FAIR's ResNeXts put it in the 3x3 and divide by the pixel std.
_MSRA_OPTIONS = {"input_format": "BGR", "pixel_mean": _CAFFE2_BGR_MEAN, "pixel_std": [1.0, 1.0, 1.0]}
_FAIR_OPTIONS = {"input_format": "BGR", "pixel_mean": _CAFFE2_BGR_MEAN, "pixel_std": [57.375, 57.12, 58.395]}


@dataclass
class ConvertedWeights:
    """A converted weights file.

    Attributes:
        state_dict: toolkit name -> tensor (bare backbone names when ``placement == "backbone"``).
        source_format: ``"toolkit"``, ``"torchvision"``, ``"detectron2"`` or ``"caffe2"``.
        placement: ``"model"`` (whole-detector names) or ``"backbone"`` (bare ResNet names).
        overrides: config values the weights need, relative to the model config: ``"backbone.<opt>"``
            for the ResNet (``model.backbone.bottom_up`` in FPN configs, ``model.backbone`` in C4/C5
            ones), ``"input_format"``/``"pixel_mean"``/``"pixel_std"`` for the model itself, and
            ``"config"``, a shipped config that computes what the source computes.
        dropped: source names deliberately left out (a classifier, BN counters, background rows...).
        classes: for a detector trained on COCO, its class names and category ids, in the form of
            :class:`maskrcnn_ext.data.classes.ClassInfo`'s JSON; None otherwise.
    """

    state_dict: dict[str, Tensor]
    source_format: str
    placement: str
    overrides: dict[str, Any] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    classes: dict[str, Any] | None = None

    def command_line(self, backbone_path: str = "model.backbone.bottom_up") -> list[str]:
        """``key=value`` overrides for ``train_net.py`` (Python literals), the ResNet at ``backbone_path``."""
        args = []
        for key, value in self.overrides.items():
            if key == "config":
                continue
            path = f"{backbone_path}.{key[len('backbone.'):]}" if key.startswith("backbone.") else f"model.{key}"
            args.append(f"{path}={value!r}")
        return args


def is_bare_backbone(state: Mapping[str, Any]) -> bool:
    """Whether every name is a bare ResNet name (``stem.``/``res2.``..``res5.``)."""
    return bool(state) and all(_BARE.match(key) for key in state)


def place_backbone_state(state: Mapping[str, Tensor], model_keys: Collection[str]) -> dict[str, Tensor]:
    """Bare ResNet names -> where the model keeps its ResNet (a C4 model's res5 is its box head)."""
    full_name = caffe2_names_for(model_keys)
    return {full_name(key): value for key, value in state.items()}


def read_raw_weights(path: str | os.PathLike) -> Any:
    """A weights file's contents, as data only: ``.pkl`` through the numpy-only unpickler, anything
    else through ``torch.load(weights_only=True)``."""
    if os.fspath(path).endswith(".pkl"):
        return load_array_pickle(path)
    return torch.load(path, map_location="cpu", weights_only=True)


def _as_torchvision_trunk(state: Mapping[str, Tensor], prefix: str) -> dict[str, Tensor]:
    """A ResNet in toolkit names under ``prefix``, renamed as torchvision names its trunk."""
    renamed = {}
    for key, value in state.items():
        if key.startswith(prefix):
            relative = key[len(prefix):].replace("stem.0.", "conv1.", 1)
            renamed[re.sub(r"^res([2-5])\.", lambda m: f"layer{int(m[1]) - 1}.", relative)] = value
    return renamed


def _backbone_options(state: Mapping[str, Tensor], prefix: str = "") -> tuple[dict[str, Any], ResNetStructure]:
    """The backbone's ``arch`` (and ``width`` when it is not 64) from the shapes of its weights.

    Raises:
        ValueError: a ResNet of no torchvision arch, at any width (the toolkit cannot build it).
    """
    structure = resnet_structure(_as_torchvision_trunk(state, prefix))
    # A narrow (or wide) variant of an arch has every width scaled with its stem's.
    standard = structure._replace(stem_width=64,
                                  width_per_group=structure.width_per_group * 64 // structure.stem_width)
    arch = next((name for name, known in TORCHVISION_RESNETS.items() if known == standard), None)
    if arch is None:
        raise ValueError(f"a ResNet of no known arch: {structure}; known: {', '.join(TORCHVISION_RESNETS)}")
    options: dict[str, Any] = {"backbone.arch": arch}
    if structure.stem_width != 64:
        options["backbone.width"] = structure.stem_width
    return options, structure


def _from_caffe2(blobs: Mapping[str, Any]) -> ConvertedWeights:
    conversion = convert_caffe2_resnet(blobs, prefix="")
    state = conversion.state
    overrides, structure = _backbone_options(state)
    grouped = structure.groups > 1
    overrides["backbone.stride_in_1x1"] = not grouped
    overrides.update(_FAIR_OPTIONS if grouped else _MSRA_OPTIONS)
    return ConvertedWeights(state, "caffe2", "backbone", overrides, list(conversion.dropped))


def _from_detectron2(model: Mapping[str, Any]) -> ConvertedWeights:
    conversion = convert_detectron2_model(model)
    state = conversion.state
    fpn = any(key.startswith("backbone.fpn") for key in state)
    prefix = "backbone.bottom_up." if fpn else "backbone."
    # A C4 model's res5 is its box head.
    res5 = {} if fpn else {prefix + "res5." + k[len(_C4_RES5):]: v for k, v in state.items() if k.startswith(_C4_RES5)}
    backbone, structure = _backbone_options({**state, **res5}, prefix)
    shipped = _DETECTRON2_CONFIGS.get((backbone["backbone.arch"], fpn))
    overrides: dict[str, Any] = {"config": _PRETRAINED.format(shipped or ("R_50_FPN" if fpn else "R_50_C4"))}
    if shipped is None or "backbone.width" in backbone:
        overrides.update(backbone)
    if shipped is None and structure.groups > 1:  # FAIR's ResNeXts, as Detectron2's X-101 configs set them
        overrides["backbone.stride_in_1x1"] = False
        overrides.update(_FAIR_OPTIONS)
    return ConvertedWeights(state, "detectron2", "model", overrides, list(conversion.dropped),
                            _coco_classes(_num_classes(state)))


def _from_torchvision(state: Mapping[str, Tensor]) -> ConvertedWeights:
    if is_torchvision_detection(state):
        conversion = convert_torchvision_mask_rcnn(state, arch=None, backbone_norm="BN")
        v2 = any(key.startswith("backbone.fpn.") and key.endswith("running_var") for key in conversion.state_dict)
        overrides = {"config": f"configs/Pretrained/mask_rcnn_R_50_FPN_torchvision_{'v2' if v2 else 'v1'}.py"}
        return ConvertedWeights(conversion.state_dict, "torchvision", "model", overrides, list(conversion.dropped),
                                _coco_classes(_num_classes(conversion.state_dict)))
    conversion = convert_torchvision_resnet(state, target="backbone", backbone_norm="BN")
    overrides, _ = _backbone_options(conversion.state_dict)
    return ConvertedWeights(conversion.state_dict, "torchvision", "backbone", overrides, list(conversion.dropped))


def _is_caffe2(data: Any) -> bool:
    """A dict of numpy arrays, possibly under ``"blobs"`` (as Detectron1 saved them)."""
    blobs = data.get("blobs", data) if isinstance(data, Mapping) else None
    return isinstance(blobs, Mapping) and bool(blobs) and all(isinstance(v, np.ndarray) for v in blobs.values())


def _coco_classes(num_classes: int) -> dict[str, Any] | None:
    """COCO's 80 classes in sorted-id order (as both torchvision's converter and Detectron2 number
    them), for a detector with that many classes."""
    if num_classes != len(COCO_CATEGORY_IDS):
        return None
    names = torchvision.models.detection.MaskRCNN_ResNet50_FPN_Weights.COCO_V1.meta["categories"]
    return {"dataset": "coco_2017_train", "class_names": [names[i] for i in COCO_CATEGORY_IDS],
            "contiguous_id_to_dataset_id": {str(k): i for k, i in enumerate(COCO_CATEGORY_IDS)}}


def _num_classes(state: Mapping[str, Tensor]) -> int:
    """The class count of a converted detector (its box predictor's score rows, background last)."""
    scores = next(v for k, v in state.items() if k.endswith("box_predictor.cls_score.weight"))
    return int(scores.shape[0]) - 1


def _detect_format(data: Any, source: str) -> str:
    if is_detectron2_zoo(data):
        return "detectron2"
    if _is_caffe2(data):
        return "caffe2"
    state = data.get(MODEL_KEY, data) if isinstance(data, Mapping) else data
    tensors = isinstance(state, Mapping) and bool(state) and all(isinstance(v, Tensor) for v in state.values())
    if tensors and (is_torchvision_detection(state) or is_torchvision_resnet(state)):
        return "torchvision"
    if tensors:
        return "toolkit"
    raise ValueError(f"{source}: neither a state dict (or a checkpoint with a 'model' state dict), nor Detectron2 "
                     "model-zoo weights ({'model': ..., '__author__': ...}), nor a dict of caffe2 arrays; "
                     f"got {type(data).__name__}")


def convert_state(data: Any, *, source_format: str = "auto", source: str = "weights") -> ConvertedWeights:
    """Convert the contents of a weights file (see :func:`read_raw_weights`).

    Args:
        data: the file's contents.
        source_format: one of :data:`FORMATS`; ``"auto"`` tells it from the contents.
        source: the file, for messages.

    Raises:
        ValueError: an unknown format, or contents that are not of the format named.
    """
    if source_format not in FORMATS:
        raise ValueError(f"unknown format {source_format!r}; choose one of {', '.join(FORMATS)}")
    found = _detect_format(data, source)
    if source_format not in ("auto", found):
        raise ValueError(f"{source} holds {found} weights, not {source_format}")
    logger.info("%s: %s weights", source, found)
    if found == "detectron2":
        return _from_detectron2(data["model"])
    if found == "caffe2":
        return _from_caffe2(data.get("blobs", data))
    state = data.get(MODEL_KEY, data)
    if found == "torchvision":
        return _from_torchvision(state)
    return ConvertedWeights(dict(state), "toolkit", "backbone" if is_bare_backbone(state) else "model")


def convert_weights(path: str | os.PathLike, *, source_format: str = "auto") -> ConvertedWeights:
    """Read ``path`` safely and convert it (see :func:`convert_state`)."""
    return convert_state(read_raw_weights(path), source_format=source_format, source=os.fspath(path))
