"""Run an exported model like the eager one: same input dicts in, same ``{"instances": ...}`` out.

:class:`ExportedModel` pads the batch (:func:`.preprocess.pad_batch`), runs the ``.pt2`` program
(``torch.export.load``) or the ONNX model (ONNX Runtime), splits the flat detections by image and maps
them to each image's original size with the eager model's own :func:`detector_postprocess`, so the
COCO evaluator, ``predict`` and the visualisations take it in place of a
:class:`~maskrcnn_ext.modeling.meta_arch.GeneralizedRCNN`.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import Tensor, nn

from ..modeling.meta_arch import detector_postprocess
from .metadata import read_metadata
from .preprocess import pad_batch

__all__ = ["EXPORTED_SUFFIXES", "ExportedModel", "is_exported_file", "load_exported"]

logger = logging.getLogger(__name__)

EXPORTED_SUFFIXES = (".pt2", ".onnx")

Program = Callable[[Tensor, Tensor], Sequence[Tensor]]


def is_exported_file(path: str | Path | None) -> bool:
    """Whether ``path`` names an exported model (``.pt2`` or ``.onnx``) rather than weights."""
    return path is not None and Path(str(path)).suffix.lower() in EXPORTED_SUFFIXES


class ExportedModel(nn.Module):
    """An exported detector behind the model input/output contracts.

    Args:
        program: ``(images (B, 3, H, W) float32, image_sizes (B, 2) int64) -> output tensors``.
        metadata: the export's JSON (output names, padding rules, mask threshold, classes).
        device: where inputs are put and outputs come back.
    """

    def __init__(self, *, program: Program, metadata: dict[str, Any], device: str | torch.device = "cpu") -> None:
        super().__init__()
        self.program = program
        self.metadata = metadata
        self.names = tuple(o["name"] for o in metadata["outputs"])
        self.run_device = torch.device(device)
        self.inference_dtype = "float32"

    @property
    def device(self) -> torch.device:
        return self.run_device

    def forward(self, batched_inputs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """
        Args:
            batched_inputs: per image ``{"image": uint8 (3, h, w) RGB, "height", "width", ...}``
                (the model-input contract; ``image`` already resized by the test-time rule).

        Returns:
            per image ``{"instances": {"boxes", "scores", "classes", "mask_scores", "masks"}}`` at
            the original ``height x width``, as :meth:`GeneralizedRCNN.inference` returns.
        """
        images = [x["image"] for x in batched_inputs]
        batch, sizes = pad_batch(images, size_divisibility=self.metadata["size_divisibility"],
                                 min_side=self.metadata["min_side"], device=self.run_device)
        outputs = dict(zip(self.names, self.program(batch, sizes)))
        return [{"instances": self._instances(outputs, i, x)} for i, x in enumerate(batched_inputs)]

    def _instances(self, outputs: dict[str, Tensor], index: int, inputs: dict[str, Any]) -> dict[str, Tensor]:
        keep = outputs["batch_index"] == index
        detections = {k: v[keep] for k, v in outputs.items() if k not in ("batch_index", "masks")}
        size = (int(inputs["image"].shape[-2]), int(inputs["image"].shape[-1]))
        original = (inputs.get("height", size[0]), inputs.get("width", size[1]))
        return detector_postprocess(detections, size, original, mask_threshold=self.metadata["mask_threshold"])


def _torch_program(path: Path, device: torch.device) -> Program:
    module = torch.export.load(str(path)).module()
    module.to(device)

    def run(images: Tensor, sizes: Tensor) -> Sequence[Tensor]:
        with torch.no_grad():
            return module(images, sizes)
    return run


def _onnx_program(path: Path, device: torch.device) -> Program:
    import onnxruntime as ort  # optional dependency (the `export` extra)

    providers = ["CPUExecutionProvider"]
    if device.type == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    options = ort.SessionOptions()
    options.log_severity_level = 3  # ORT warns about every constant it cannot fold
    # ORT's threads otherwise busy-wait after each run, taking the cores from whatever Python does next
    # (loading the next batch, pasting masks, an eager model in the same process).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), sess_options=options, providers=providers)

    def run(images: Tensor, sizes: Tensor) -> Sequence[Tensor]:
        feeds = {"images": images.detach().cpu().numpy(), "image_sizes": sizes.detach().cpu().numpy()}
        return [torch.from_numpy(out).to(device) for out in session.run(None, feeds)]
    return run


def load_exported(path: str | Path, *, device: str | torch.device = "cpu") -> ExportedModel:
    """An :class:`ExportedModel` for a ``.pt2`` or ``.onnx`` file and the JSON beside it.

    A ``.pt2`` program runs on the device it was exported on (its constants live there); ONNX
    Runtime uses its CUDA provider when ``device`` is CUDA and the provider is installed.
    """
    path = Path(path)
    if not is_exported_file(path):
        raise ValueError(f"{path}: not an exported model (expected one of {EXPORTED_SUFFIXES})")
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such exported model")
    device = torch.device(device)
    metadata = read_metadata(path)
    program = _torch_program(path, device) if path.suffix.lower() == ".pt2" else _onnx_program(path, device)
    logger.info("Loaded the exported model %s (%s) on %s", path, metadata.get("format"), device)
    return ExportedModel(program=program, metadata=metadata, device=device)
