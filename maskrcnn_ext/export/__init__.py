"""Deployment: export a detector with ``torch.export`` (``.pt2``) or to ONNX, and run the export.

- :class:`~.graph.ExportableRCNN`: the export-safe inference graph around a trained model (sizes read
  from tensors, NMS and per-image top-k without data-dependent branches, torchvision's RoIAlign in
  place of the CPU fast paths, a dynamic batch).
- :func:`~.writers.export_model`: writes the ``.pt2`` / ``.onnx`` file, its JSON, the config and
  ``preprocess.py``.
- :func:`~.runners.load_exported`: an :class:`~.runners.ExportedModel` that takes and returns what
  the eager model does, so evaluation and prediction run unchanged on an export.

``onnx``, ``onnxruntime`` and ``onnxscript`` are the optional ``export`` extra; they are imported only
when an ONNX file is written or run.
"""
from .graph import ExportableRCNN, output_names
from .runners import EXPORTED_SUFFIXES, ExportedModel, is_exported_file, load_exported
from .writers import FORMATS, export_model, trace_program

__all__ = ["EXPORTED_SUFFIXES", "ExportableRCNN", "ExportedModel", "FORMATS", "export_model", "is_exported_file",
           "load_exported", "output_names", "trace_program"]
