"""Mixed precision: where reduced precision runs, and where full precision is kept on purpose.

Under :func:`autocast`, PyTorch runs convolutions and matrix products (the backbone, the FPN, the RPN
and RoI heads' convs and fcs, the separable RoIAlign's interpolation matmuls) in the reduced dtype
(bfloat16 on CPU; float16 or bfloat16 on CUDA), which is where nearly all the time goes. Everything
whose precision decides the result stays in the model's own dtype (float32, or float64 in numerical
checks), because every head hands its outputs back in that dtype (:func:`to_parameter_dtype`):

- RPN objectness and box deltas, box-head logits and deltas, mask logits and MaskIoU predictions:
  bfloat16 keeps 8 bits of mantissa, so a decoded box coordinate near 800 px would move in steps of
  4 px and near-tied scores would tie;
- therefore also box decoding, clipping, top-k, NMS, the anchor and RoI sampling decisions, mask
  pasting and every loss (autocast itself also runs losses, softmax and torchvision's RoIAlign in
  float32).

Weights, gradients, optimizer state and checkpoints stay in full precision; on CUDA float16 the
loss is scaled (``torch.amp.GradScaler``) so that small gradients do not underflow.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from torch import Tensor, nn

__all__ = ["autocast", "resolve_amp_dtype", "to_parameter_dtype"]

_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
FULL_PRECISION = ("float32", "float64")


def resolve_amp_dtype(dtype: str, device_type: str) -> torch.dtype:
    """The reduced dtype for ``device_type``.

    Args:
        dtype: ``"float16"``, ``"bfloat16"``, or ``"auto"`` (float16 on CUDA, the usual AMP with
            loss scaling; bfloat16 elsewhere, the one CPUs run fast).
        device_type: ``"cuda"``, ``"cpu"``...

    Raises:
        ValueError: an unknown dtype, or float16 on CPU (slower than float32 there).
    """
    if dtype == "auto":
        return torch.float16 if device_type == "cuda" else torch.bfloat16
    if dtype not in _DTYPES:
        raise ValueError(f"mixed precision dtype {dtype!r}: choose float16, bfloat16 or auto")
    if device_type == "cpu" and dtype == "float16":
        raise ValueError("float16 mixed precision on CPU has no fast kernels: use bfloat16")
    return _DTYPES[dtype]


def autocast(device_type: str, dtype: str | None) -> AbstractContextManager:
    """Autocast to ``dtype`` on ``device_type``; a no-op for None and full precision."""
    if dtype is None or dtype in FULL_PRECISION:
        return nullcontext()
    return torch.autocast(device_type, dtype=resolve_amp_dtype(dtype, device_type))


def to_parameter_dtype(module: nn.Module, *tensors: Tensor) -> tuple[Tensor, ...]:
    """``tensors`` in the dtype of ``module``'s parameters: a head's outputs leave an autocast
    region in full precision, so decoding, NMS and losses never see reduced precision."""
    dtype = next(module.parameters()).dtype
    return tuple(t if t.dtype == dtype else t.to(dtype) for t in tensors)
