"""Write a detector as a ``torch.export`` program (``.pt2``) or an ONNX model (``.onnx``).

Both start from one ``torch.export`` trace of :class:`~.graph.ExportableRCNN` with a dynamic batch
size and dynamic height and width (multiples of the model's ``size_divisibility``); the ONNX file is
translated from that program by torch's dynamo-based exporter and checked with ``onnx.checker``.
Beside the file go ``<name>.json`` (:mod:`.metadata`), the model's ``config.yaml`` and ``preprocess.py``.
"""
from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any, Sequence

import torch
from torch.export import Dim

from ..config import LazyConfig
from ..data.classes import ClassInfo
from ..modeling.meta_arch import GeneralizedRCNN
from . import preprocess
from .graph import ExportableRCNN
from .metadata import build_metadata, metadata_path, write_metadata
from .ops import exportable_nms

__all__ = ["FORMATS", "export_model", "trace_program"]

logger = logging.getLogger(__name__)

FORMATS = {"torch-export": ".pt2", "onnx": ".onnx"}
# The coarsest FPN level (p6, stride 64) must be more than one cell wide: torch.export specialises a
# size-1 dimension, so the smallest accepted side is 65 px, rounded up to a multiple of the stride.
_MIN_SIDE = 65
MAX_SIDE = 4096
MAX_BATCH = 64


def _example_inputs(model: GeneralizedRCNN, size: tuple[int, int], batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch of ``batch`` images of ``size`` (rounded up to the stride), on the model's device."""
    stride = max(model.size_divisibility, 1)
    height, width = (-(-s // stride) * stride for s in size)
    generator = torch.Generator().manual_seed(0)
    images = (torch.rand((batch, 3, height, width), generator=generator) * 255).to(model.device)
    sizes = torch.tensor([[height, width]] * batch, dtype=torch.int64, device=model.device)
    return images, sizes


def _min_side(stride: int) -> int:
    return -(-_MIN_SIDE // stride) * stride


def trace_program(graph: ExportableRCNN, inputs: tuple[torch.Tensor, torch.Tensor], *,
                  dynamic_batch: bool = True) -> torch.export.ExportedProgram:
    """``torch.export`` of ``graph`` with dynamic height and width (multiples of the stride) and batch.

    Args:
        graph: the export-safe model; inputs: example ``(images, image_sizes)`` (batch >= 2 when the
            batch is dynamic: torch.export specialises a batch of 1).
    """
    stride = max(graph.model.size_divisibility, 1)
    height = Dim("height", min=_min_side(stride) // stride, max=MAX_SIDE // stride)
    width = Dim("width", min=_min_side(stride) // stride, max=MAX_SIDE // stride)
    batch = Dim("batch", min=1, max=MAX_BATCH) if dynamic_batch else None
    shapes = {"images": {0: batch, 2: stride * height, 3: stride * width}, "image_sizes": {0: batch}}
    with torch.no_grad(), exportable_nms():
        return torch.export.export(graph, inputs, dynamic_shapes=shapes, strict=False)


def _write_onnx(program: torch.export.ExportedProgram, inputs: tuple, path: Path, names: tuple[str, ...],
                opset: int) -> None:
    import onnx  # optional dependency (the `export` extra)

    # The converter's optimiser logs every pass at INFO (thousands of lines for one model).
    noisy = [logging.getLogger(name) for name in ("onnxscript", "onnx_ir")]
    levels = [log.level for log in noisy]
    for log in noisy:
        log.setLevel(logging.WARNING)
    try:
        with exportable_nms():  # the converter traces the program again
            # One self-contained file (weights inside) while it fits ONNX's 2 GB protobuf limit.
            torch.onnx.export(program, inputs, str(path), dynamo=True, opset_version=opset,
                              input_names=["images", "image_sizes"], output_names=list(names), verbose=False,
                              external_data=False)
    finally:
        for log, level in zip(noisy, levels):
            log.setLevel(level)
    onnx.checker.check_model(str(path), full_check=True)


def export_model(model: GeneralizedRCNN, out_dir: str | Path, *, formats: Sequence[str], cfg: Any = None,
                 classes: ClassInfo | None = None, example_size: tuple[int, int] = (320, 416),
                 paste_masks: bool = False, opset: int = 18, name: str = "model") -> dict[str, Path]:
    """Export ``model`` into ``out_dir``, in each of ``formats`` from one trace.

    Args:
        model: the detector (its device is the export's device; eval mode is set).
        formats: ``"torch-export"`` and/or ``"onnx"``.
        cfg: its config, saved beside the export and read for the test-time resize rule.
        classes: what its class indices mean (recorded in the JSON).
        example_size: the size traced; any other size within the JSON's limits runs too.
        paste_masks: also output masks pasted into the input image.
        opset: ONNX opset (>= 17).

    Returns:
        ``{format: path of the exported file}``; each file has ``<file>.json`` beside it.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(f"unknown export format(s) {unknown}; choose from {sorted(FORMATS)}")
    if "onnx" in formats and opset < 17:
        raise ValueError(f"opset {opset}: the export needs opset >= 17")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    graph = ExportableRCNN(model=model.eval(), paste_masks=paste_masks)
    inputs = _example_inputs(model, example_size, batch=2)
    with torch.no_grad():
        example = dict(zip(graph.names, graph(*inputs)))
    program = trace_program(graph, inputs)
    stride = max(model.size_divisibility, 1)
    mask_side = int(example["mask_probs"].shape[-1]) if "mask_probs" in example else None
    paths = {}
    for fmt in dict.fromkeys(formats):
        path = paths[fmt] = out_dir / f"{name}{FORMATS[fmt]}"
        if fmt == "torch-export":
            torch.export.save(program, str(path))
        else:
            _write_onnx(program, inputs, path, graph.names, opset)
        metadata = build_metadata(model, fmt=fmt, file_name=path.name, names=graph.names, cfg=cfg, classes=classes,
                                  min_side=_min_side(stride), max_side=MAX_SIDE, max_batch=MAX_BATCH,
                                  mask_side=mask_side, extra={"opset": opset} if fmt == "onnx" else None)
        write_metadata(metadata_path(path), metadata)
        logger.info("Exported %s (%s): outputs %s", path, fmt, ", ".join(graph.names))
    if cfg is not None:
        LazyConfig.save(cfg, str(out_dir / "config.yaml"))
    shutil.copyfile(preprocess.__file__, out_dir / "preprocess.py")
    return paths
