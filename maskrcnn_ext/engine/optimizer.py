"""Optimizer construction with per-parameter-group hyper-parameters."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

__all__ = ["get_default_optimizer_params", "build_optimizer"]

_NORM_TYPES = (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)


def get_default_optimizer_params(model: nn.Module, *, weight_decay: float | None = None,
                                 weight_decay_norm: float | None = 0.0,
                                 weight_decay_bias: float | None = None) -> list[dict[str, Any]]:
    """Trainable parameters grouped by the weight decay they get.

    Weight decay on normalization scales/shifts only pulls them towards zero, which hurts training
    from scratch, so norms get ``weight_decay_norm`` (0 by default).

    Args:
        model: the (unwrapped) model.
        weight_decay: decay of ordinary weights; None keeps the optimizer's default.
        weight_decay_norm: decay of normalization parameters; None keeps the optimizer's default.
        weight_decay_bias: decay of biases; None treats them like ordinary weights.

    Returns:
        a list of ``{"params": [...], "weight_decay": ...}`` groups (empty groups dropped), each
        parameter exactly once.
    """
    groups: dict[float | None, list[nn.Parameter]] = {}
    seen: set[int] = set()
    for module in model.modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            decay = weight_decay
            if isinstance(module, _NORM_TYPES):
                decay = weight_decay_norm
            elif name == "bias" and weight_decay_bias is not None:
                decay = weight_decay_bias
            groups.setdefault(decay, []).append(param)
    return [{"params": params} if decay is None else {"params": params, "weight_decay": decay}
            for decay, params in groups.items()]


def build_optimizer(model: nn.Module, *, optimizer: type[torch.optim.Optimizer] = torch.optim.SGD,
                    weight_decay_norm: float = 0.0, **kwargs: Any) -> torch.optim.Optimizer:
    """``optimizer(get_default_optimizer_params(model, ...), **kwargs)``."""
    params = get_default_optimizer_params(model, weight_decay_norm=weight_decay_norm)
    return optimizer(params, **kwargs)
