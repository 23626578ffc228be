"""Parameter and FLOP counts of a detector for its zoo manifest (fvcore)."""
from __future__ import annotations

import logging
import warnings
from typing import Any

import torch
from torch import nn

__all__ = ["count_flops", "count_parameters"]

logger = logging.getLogger(__name__)


def count_parameters(model: nn.Module) -> int:
    """Number of parameter elements (buffers such as frozen-BN statistics excluded)."""
    return sum(p.numel() for p in model.parameters())


class _ImageOnly(nn.Module):
    """The detector as a function of one image tensor, with tensor outputs: what tracing needs."""

    def __init__(self, model: nn.Module, height: int, width: int) -> None:
        super().__init__()
        self.model, self.height, self.width = model, height, width

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        instances = self.model([{"image": image, "height": self.height, "width": self.width}])[0]["instances"]
        return tuple(value for value in instances.values() if isinstance(value, torch.Tensor))


def count_flops(model: nn.Module, image: torch.Tensor, *,
                original_size: tuple[int, int] | None = None) -> dict[str, Any]:
    """FLOPs of one inference on ``image``, counted by fvcore (one per multiply-add, as detectron2 reports).

    The count depends on the image: the mask head runs once per detection. Operators fvcore has no
    formula for (RoIAlign, NMS, element-wise ops) add nothing and are listed.

    Args:
        model: a detector following the model-input/output contracts; put in eval mode for the count.
        image: uint8 ``(3, H, W)``, the model input (after the test-time resize).
        original_size: ``(height, width)`` the outputs map back to; ``(H, W)`` when None.

    Returns:
        ``{"gflops": float, "input_size": [H, W], "uncounted_ops": [names]}``.
    """
    height, width = original_size or tuple(image.shape[-2:])
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings(), torch.no_grad():
            # fvcore traces with torch.jit, which warns of its deprecation and of data-dependent control flow.
            warnings.simplefilter("ignore")
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(_ImageOnly(model, height, width), (image,))
            analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
            total = analysis.total()
    finally:
        model.train(was_training)
    return {"gflops": total / 1e9, "input_size": [int(image.shape[-2]), int(image.shape[-1])],
            "uncounted_ops": sorted(analysis.unsupported_ops())}
