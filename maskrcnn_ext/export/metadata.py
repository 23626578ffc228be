"""The JSON written beside every exported file: what a consumer needs to run it and read its outputs."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from ..data.classes import ClassInfo
from ..modeling.meta_arch import GeneralizedRCNN

__all__ = ["build_metadata", "metadata_path", "read_metadata", "resize_rules", "write_metadata"]

# Symbolic output shapes: D detections of the whole batch; H, W the padded input size.
_OUTPUT_SHAPES = {
    "boxes": (["detections", 4], "float32", "XYXY in (resized) input pixels"),
    "scores": (["detections"], "float32", "box score (class probability)"),
    "classes": (["detections"], "int64", "class index 0..K-1"),
    "batch_index": (["detections"], "int64", "image of the batch each detection belongs to"),
    "mask_probs": (["detections", "M", "M"], "float32", "mask probabilities in the box (RoI resolution)"),
    "mask_scores": (["detections"], "float32", "mask score: box score x predicted mask IoU"),
    "masks": (["detections", "height", "width"], "float32", "mask probabilities pasted into the padded input"),
}


def metadata_path(model_file: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json`` (one JSON per file, so both formats can share a folder)."""
    path = Path(model_file)
    return path.with_name(path.name + ".json")


def resize_rules(cfg: Any) -> list[dict[str, Any]]:
    """The config's test-time augmentations as plain dicts (``{"op": import path, **arguments}``)."""
    try:
        augmentations = cfg.dataloader.test.mapper.augmentations
    except AttributeError:
        return []
    rules = []
    for aug in OmegaConf.to_container(augmentations, resolve=True) or []:
        target = aug.pop("_target_", None)
        name = target if isinstance(target, str) else f"{target.__module__}.{target.__qualname__}"
        rules.append({"op": name.replace("transforms.v2._geometry", "transforms.v2"), **aug})
    return rules


def build_metadata(model: GeneralizedRCNN, *, fmt: str, file_name: str, names: tuple[str, ...], cfg: Any,
                   classes: ClassInfo | None, min_side: int, max_side: int, max_batch: int, mask_side: int | None,
                   extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything about one export that its consumer needs (see the README's Deploy section).

    Args:
        model: the exported detector; names: its graph's output names, in order.
        fmt: ``"torch-export"`` or ``"onnx"``; file_name: the exported file's name.
        cfg: the model's config (test-time resize rule); classes: what class indices mean.
        min_side / max_side / max_batch: the input sizes the export accepts.
        mask_side: M, the side of ``mask_probs`` (None without a mask branch).
    """
    heads = model.roi_heads
    outputs = []
    for name in names:
        shape, dtype, meaning = _OUTPUT_SHAPES[name]
        shape = [mask_side if s == "M" else s for s in shape]
        outputs.append({"name": name, "shape": shape, "dtype": dtype, "meaning": meaning})
    return {
        "format": fmt, "file": file_name, "torch_version": torch.__version__,
        "inputs": [{"name": "images", "shape": ["batch", 3, "height", "width"], "dtype": "float32",
                    "meaning": "RGB pixels 0..255, zero-padded; height and width multiples of size_divisibility"},
                   {"name": "image_sizes", "shape": ["batch", 2], "dtype": "int64",
                    "meaning": "unpadded (height, width) of each image"}],
        "outputs": outputs,
        "input_format": "RGB", "model_input_format": model.input_format,
        "pixel_mean": [float(v) for v in model.pixel_mean.flatten()],
        "pixel_std": [float(v) for v in model.pixel_std.flatten()],
        "normalization": "inside the graph: (pixel - mean) / std, channels flipped first for BGR models",
        "resize": resize_rules(cfg), "size_divisibility": int(model.size_divisibility),
        "min_side": min_side, "max_side": max_side, "max_batch": max_batch,
        "mask_threshold": float(model.mask_threshold), "mask_scoring": "mask_scores" in names,
        "score_thresh": float(heads.box_predictor.test_score_thresh),
        "detections_per_image": int(heads.box_predictor.test_topk_per_image),
        "classes": (classes or ClassInfo()).to_json(),
        **(extra or {}),
    }


def write_metadata(path: str | Path, metadata: dict[str, Any]) -> Path:
    path = Path(path)
    path.write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
    return path


def read_metadata(model_file: str | Path) -> dict[str, Any]:
    """The JSON beside an exported file.

    Raises:
        FileNotFoundError: naming the missing JSON.
    """
    path = metadata_path(model_file)
    if not path.is_file():
        raise FileNotFoundError(f"{model_file}: its metadata {path.name} is missing beside it (written by "
                                "`maskrcnn-ext export`); the runner needs its output names and input rules")
    return json.loads(path.read_text(encoding="utf-8"))
