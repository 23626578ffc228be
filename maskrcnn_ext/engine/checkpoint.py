"""Saving and resuming training state, and loading initial weights with a readable report.

Files are written atomically (a temporary file, then ``os.replace``), and the ``last_checkpoint``
pointer is updated only after the checkpoint it names is complete, so a crash mid-save never
leaves a pointer to a partial file.
"""
from __future__ import annotations

import logging
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["Checkpointer", "LoadReport", "last_checkpoint_file", "load_model_weights", "read_model_state"]

logger = logging.getLogger(__name__)

_POINTER = "last_checkpoint"
_RNG_KEY = "rng_states"
_MODEL_KEY = "model"
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


def _unwrap(model: nn.Module) -> nn.Module:
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
    model = _unwrap(model)
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


def last_checkpoint_file(save_dir: str | os.PathLike) -> str | None:
    """Path of the checkpoint the ``last_checkpoint`` pointer of ``save_dir`` names; None without one."""
    pointer = os.path.join(save_dir, _POINTER)
    if not os.path.isfile(pointer):
        return None
    with open(pointer, encoding="utf-8") as f:
        filename = f.read().strip()
    return os.path.join(save_dir, filename)


def read_model_state(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The model state dict of a weights file: a bare state dict (a zoo file) or a checkpoint's
    ``"model"`` entry, loaded with ``weights_only=True`` (tensors and primitives only).

    Raises:
        ValueError: the file holds no mapping of names to tensors.
    """
    data = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(data, Mapping) and isinstance(data.get(_MODEL_KEY), Mapping):
        data = data[_MODEL_KEY]
    if not isinstance(data, Mapping) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"{path}: expected a state dict or a dict with a 'model' state dict, "
                         f"got {type(data).__name__}")
    return dict(data)


def _rng_states() -> dict[str, Any]:
    # Only tensors and primitives, so that every checkpoint loads with torch.load(weights_only=True).
    name, keys, pos, has_gauss, cached = np.random.get_state()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: Mapping[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    name, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.int64).astype(np.uint32), pos, has_gauss, cached))
    random.setstate(states["python"])
    if "cuda" in states and torch.cuda.is_available():
        if len(states["cuda"]) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(states["cuda"])
        else:
            logger.warning("The checkpoint's CUDA RNG states are for a different number of GPUs; not restored.")


def _atomic_write(path: str, write: Any) -> None:
    """Call ``write(tmp_path)`` then move the finished file over ``path``."""
    tmp_path = path + ".tmp"
    write(tmp_path)
    os.replace(tmp_path, path)


class Checkpointer:
    """Save and restore a model together with any other objects that have a ``state_dict``.

    Args:
        model: the model (a DDP wrapper is unwrapped when saving and loading).
        save_dir: directory for checkpoints and the ``last_checkpoint`` pointer.
        save_to_disk: whether ``save`` writes; pass ``False`` on non-main ranks.
        **checkpointables: e.g. ``optimizer=..., scheduler=..., trainer=...``.
    """

    def __init__(self, model: nn.Module, save_dir: str, *, save_to_disk: bool = True, **checkpointables: Any) -> None:
        reserved = {_MODEL_KEY, _RNG_KEY} & set(checkpointables)
        if reserved:
            raise ValueError(f"Checkpointable names {sorted(reserved)} are reserved")
        self.model = model
        self.save_dir = save_dir
        self.save_to_disk = save_to_disk
        self.checkpointables = checkpointables

    def save(self, name: str, **extra: Any) -> str | None:
        """Write ``{save_dir}/{name}.pth`` and point ``last_checkpoint`` at it.

        Args:
            name: file name without ``.pth``.
            **extra: small picklable values stored alongside, e.g. ``iteration=...``.

        Returns:
            The path written, or ``None`` when ``save_to_disk`` is false.
        """
        if not self.save_to_disk:
            return None
        clash = {_MODEL_KEY, _RNG_KEY, *self.checkpointables} & set(extra)
        if clash:
            raise ValueError(f"Extra checkpoint keys {sorted(clash)} clash with reserved or checkpointable names")
        data: dict[str, Any] = {_MODEL_KEY: _unwrap(self.model).state_dict()}
        data.update({key: obj.state_dict() for key, obj in self.checkpointables.items()})
        data.update(extra)
        data[_RNG_KEY] = _rng_states()

        os.makedirs(self.save_dir, exist_ok=True)
        filename = f"{name}.pth"
        path = os.path.join(self.save_dir, filename)
        _atomic_write(path, lambda tmp: _save_synced(data, tmp))
        _atomic_write(os.path.join(self.save_dir, _POINTER), lambda tmp: _write_text(tmp, filename))
        logger.info("Saved checkpoint to %s", path)
        return path

    def get_checkpoint_file(self) -> str | None:
        """Path of the checkpoint named by ``last_checkpoint``, or ``None`` when there is no pointer."""
        return last_checkpoint_file(self.save_dir)

    def has_checkpoint(self) -> bool:
        """Whether ``last_checkpoint`` exists and names an existing file."""
        path = self.get_checkpoint_file()
        return path is not None and os.path.isfile(path)

    def resume_or_load(self, path: str | None, *, resume: bool) -> dict[str, Any]:
        """Resume the full state from the last checkpoint, or initialise the model weights from ``path``.

        Args:
            path: weights used when not resuming (a state dict or a dict with ``"model"``); may be empty.
            resume: resume from ``last_checkpoint`` when it exists.

        Returns:
            The ``extra`` values of the resumed checkpoint (e.g. ``{"iteration": 999}``), else ``{}``.
        """
        if resume and self.has_checkpoint():
            return self._resume(self.get_checkpoint_file())
        if resume:
            logger.info("No checkpoint to resume from in %s", self.save_dir)
        if path:
            self.load_weights(path)
        return {}

    def load_weights(self, path: str) -> LoadReport:
        """Initialise the model from weights, refusing anything but tensors (``weights_only``).

        Args:
            path: a weights file, a URL to a zoo file, or a model name in the default zoo
                (:func:`maskrcnn_ext.model_zoo.resolve_checkpoint`).

        Raises:
            ValueError: most of the checkpoint does not fit the model (another architecture).
        """
        from ..model_zoo.load import resolve_checkpoint

        path = resolve_checkpoint(path)
        logger.info("Loading model weights from %s", path)
        report = load_model_weights(self.model, read_model_state(path))
        report.require_same_architecture(path)
        return report

    def _resume(self, path: str) -> dict[str, Any]:
        _check_exists(path)
        logger.info("Resuming from %s", path)
        # Our own file: it holds optimizer state and RNG states, which need full unpickling.
        data = torch.load(path, map_location="cpu", weights_only=False)
        load_model_weights(self.model, data.pop(_MODEL_KEY))
        for key, obj in self.checkpointables.items():
            if key in data:
                obj.load_state_dict(data.pop(key))
            else:
                logger.warning("%s has no state for %r; it keeps its current state", path, key)
        rng = data.pop(_RNG_KEY, None)
        if rng is not None:
            _set_rng_states(rng)
        return data


def _save_synced(data: dict[str, Any], path: str) -> None:
    # fsync before the rename, otherwise a power loss can leave the new name on an empty file.
    with open(path, "wb") as f:
        torch.save(data, f)
        f.flush()
        os.fsync(f.fileno())


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())


def _check_exists(path: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Checkpoint file not found: {path}")
