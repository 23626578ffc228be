"""Reading model weights safely and loading them into a model with a readable report.

This is the one place where weights files are read (``torch.load(..., weights_only=True)``: tensors
and primitives only, never code) and matched to a model by name and shape. The training checkpointer
(:mod:`maskrcnn_ext.engine.checkpoint`), the model zoo and the predictor build on it.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from .convert import MODEL_KEY, convert_weights, place_backbone_state

__all__ = ["MODEL_KEY", "LoadReport", "load_model_weights", "read_model_state", "unwrap_model"]

logger = logging.getLogger(__name__)

_BN_COUNTER = "num_batches_tracked"
_REPORT_NAMES = 5


@dataclass
class LoadReport:
    """What happened to each parameter/buffer name when loading a state dict into a model."""

    loaded: list[str] = field(default_factory=list)
    shape_mismatch: list[tuple[str, tuple[int, ...], tuple[int, ...]]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    fresh_modules: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """Counts per category, with the first few names of each."""

        def names(items: list[Any]) -> str:
            shown = ", ".join(str(x) for x in items[:_REPORT_NAMES])
            more = f", ... (+{len(items) - _REPORT_NAMES} more)" if len(items) > _REPORT_NAMES else ""
            return f": {shown}{more}" if items else ""

        mismatches = [f"{name} (checkpoint {tuple(c)} vs model {tuple(m)})" for name, c, m in self.shape_mismatch]
        return "\n".join(
            [
                f"loaded {len(self.loaded)} tensors",
                f"shape mismatch, kept the model's initialisation for {len(mismatches)}{names(mismatches)}",
                f"missing from the checkpoint {len(self.missing)}{names(self.missing)}",
                f"modules initialised fresh (none of their tensors in the checkpoint) "
                f"{len(self.fresh_modules)}{names(self.fresh_modules)}",
                f"unexpected in the checkpoint {len(self.unexpected)}{names(self.unexpected)}",
            ]
        )

    def require_complete(self, purpose: str) -> None:
        """Raise unless every model tensor came from the checkpoint (no random heads left).

        Args:
            purpose: what needs the complete model, for the message (e.g. ``"--eval-only"``).
        """
        if self.shape_mismatch or self.missing:
            raise ValueError(f"{purpose} needs every parameter from the checkpoint, but "
                             f"{len(self.shape_mismatch) + len(self.missing)} would keep their random "
                             f"initialisation:\n{self.summary()}")

    def require_same_architecture(self, source: str) -> None:
        """Raise when most of the checkpoint does not fit the model: it was trained for another one.

        A different class count (a few head tensors) or extra tensors (a scoring head) pass.
        """
        unusable = [name for name, _, _ in self.shape_mismatch] + self.unexpected
        if len(self.loaded) < len(unusable):
            raise ValueError(f"{source} looks like a checkpoint of a different architecture: only "
                             f"{len(self.loaded)} of its {len(self.loaded) + len(unusable)} tensors fit this "
                             f"model; first mismatching keys: {', '.join(unusable[:_REPORT_NAMES])}")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a (Distributed)DataParallel wrapper, or ``model`` itself."""
    wrappers = (nn.parallel.DistributedDataParallel, nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def _strip_common_prefix(state_dict: Mapping[str, Any], prefix: str = "module.") -> dict[str, Any]:
    """Drop a DDP ``module.`` prefix carried by every key of a state dict saved from a wrapped model."""
    if state_dict and all(key.startswith(prefix) for key in state_dict):
        return {key[len(prefix) :]: value for key, value in state_dict.items()}
    return dict(state_dict)


def _fresh_modules(model: nn.Module, missing: set[str]) -> list[str]:
    """The outermost submodules none of whose state the checkpoint provided (e.g. a new head)."""
    fresh: list[str] = []
    for name, module in model.named_modules():
        if not name or any(name.startswith(f"{f}.") for f in fresh):
            continue
        keys = [f"{name}.{k}" for k in module.state_dict()]
        if keys and all(k in missing for k in keys):
            fresh.append(name)
    return fresh


def load_model_weights(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> LoadReport:
    """Load the tensors of ``state_dict`` whose name and shape match the model; report the rest.

    Args:
        model: the target model (a DDP wrapper is unwrapped).
        state_dict: name -> tensor.

    Returns:
        A :class:`LoadReport`; it is also logged.
    """
    model = unwrap_model(model)
    state_dict = _strip_common_prefix(state_dict)
    for name, module in model.named_modules():
        check = getattr(module, "check_loadable", None)  # a module may refuse what it cannot use
        if callable(check):
            check(state_dict, f"{name}." if name else "")
    model_state = model.state_dict()
    report = LoadReport()
    to_load = {}
    for name, value in state_dict.items():
        if name not in model_state:
            report.unexpected.append(name)
        elif tuple(value.shape) != tuple(model_state[name].shape):
            report.shape_mismatch.append((name, tuple(value.shape), tuple(model_state[name].shape)))
        else:
            to_load[name] = value
            report.loaded.append(name)
    report.missing = [name for name in model_state if name not in state_dict]
    report.fresh_modules = _fresh_modules(model, set(report.missing))
    model.load_state_dict(to_load, strict=False)
    logger.info("Weight loading report:\n%s", report.summary())
    return report


def read_model_state(path: str | os.PathLike, *, model: nn.Module | None = None) -> dict[str, torch.Tensor]:
    """The model state dict of a weights file, converted to this toolkit's names when it comes from
    elsewhere (:func:`~maskrcnn_ext.checkpoint.convert.convert_weights`): a bare state dict (a zoo
    file) or a checkpoint's ``"model"`` entry, loaded with ``weights_only=True`` (tensors and
    primitives only); a Detectron2 model-zoo or MSRA caffe2 ``.pkl`` file, read as numpy arrays only;
    a torchvision ImageNet ResNet or (Mask) R-CNN ``.pth``.

    Args:
        path: the weights file.
        model: the model the weights are for: an ImageNet backbone goes where it keeps its ResNet
            (FPN bottom-up, C4 backbone and res5 box head, C5 or bare backbone; without a model, an
            FPN's), and BN counters it has no use for (FrozenBN) are left out.

    Raises:
        ValueError: the file holds no known format (or, for ``.pkl``, is truncated or holds tensors
            no converter rule maps).
        UnsafePickleError: a ``.pkl`` file names anything but numpy arrays (nothing was run).
    """
    converted = convert_weights(path)
    keys = set() if model is None else set(unwrap_model(model).state_dict())
    state = converted.state_dict
    if converted.placement == "backbone" and not (keys and set(state) <= keys):
        state = place_backbone_state(state, keys)
    if keys:  # BN counters mean nothing to FrozenBN layers
        unused = [k for k in state if k.endswith(_BN_COUNTER) and k not in keys]
        state = {k: v for k, v in state.items() if k not in unused}
        if unused:
            logger.info("%s: left out %d BN counters the model's norm layers do not keep", path, len(unused))
    return state
